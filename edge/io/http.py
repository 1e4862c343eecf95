"""The edge's HTTP surface: /healthz, /readyz, /metrics, a read-only view of devices, confirmations."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from edge.guard.confirmations import ConfirmationError
from edge.io.metrics import EdgeMetrics
from shared.decision import Decision

log = logging.getLogger(__name__)


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


class HttpServer:
    """Serves an app with uvicorn inside the daemon's event loop; `port` is the bound port once it listens."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self.port: int | None = None

    async def run(self) -> None:
        """Serve until `stop()` or cancellation."""
        serve = asyncio.create_task(self._server.serve())
        while not self._server.started and not serve.done():  # noqa: ASYNC110 - uvicorn exposes no started event
            await asyncio.sleep(0.02)
        if self._server.servers:
            self.port = self._server.servers[0].sockets[0].getsockname()[1]
            log.info("edge http listening", extra={"port": self.port})
        try:
            await serve
        finally:
            self._server.should_exit = True

    def stop(self) -> None:
        """Ask the server to finish."""
        self._server.should_exit = True
