"""The edge's HTTP surface: /healthz, /readyz, /metrics (and a read-only view of devices)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from edge.metrics import EdgeMetrics


def create_app(metrics: EdgeMetrics, readiness: Callable[[], dict[str, bool]],
               devices: Callable[[], list[dict[str, Any]]],
               degraded: Callable[[], dict[str, str]] = dict) -> FastAPI:
    """App factory; the daemon passes in what the endpoints report."""
    app = FastAPI(title="AutoGLM Hybrid edge", docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        checks = readiness()
        ready = all(checks.values())
        body = {"ready": ready, "checks": checks, "degraded": degraded()}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/devices")
    def list_devices() -> list[dict[str, Any]]:
        return devices()

    return app
