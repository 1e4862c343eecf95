"""The edge's HTTP surface: /healthz, /readyz, /metrics, a read-only view of devices, confirmations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from edge.guard.confirmations import ConfirmationError
from edge.io.metrics import EdgeMetrics
from shared.decision import Decision


def create_app(metrics: EdgeMetrics, readiness: Callable[[], dict[str, bool]],
               devices: Callable[[], list[dict[str, Any]]],
               degraded: Callable[[], dict[str, str]] = dict,
               confirm: Callable[[str], Awaitable[Decision]] | None = None) -> FastAPI:
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

    @app.post("/v1/confirmations/{token}")
    async def confirm_held(token: str) -> JSONResponse:
        """Go ahead with a held request: the token from its decision, once, before it expires."""
        if confirm is None:
            return JSONResponse({"error": {"code": "not_supported", "message": "no confirmations here"}}, 404)
        try:
            decision = await confirm(token)
        except ConfirmationError as exc:
            return JSONResponse({"error": {"code": exc.code, "message": str(exc)}}, status_code=404)
        return JSONResponse(decision.model_dump(mode="json"))

    return app
