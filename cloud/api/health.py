"""Health, readiness and metrics; no authentication (probes and Prometheus scrape them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cloud.api.deps import ServicesDep

router = APIRouter(tags=["health"])

#: Planner states in which the service counts as ready ("lazy" loads on first use; "disabled" = none configured).
READY_PLANNER_STATES = frozenset({"loaded", "lazy", "remote", "disabled"})


def planner_state(planner: Any) -> str:
    """The planner's `status()` ("lazy", "loading", "loaded", "unavailable", ...), "disabled" when none."""
    if planner is None:
        return "disabled"
    status = getattr(planner, "status", None)
    return str(status()) if callable(status) else "loaded"


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Always ok while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database and planner state", responses={503: {"description": "not ready"}})
async def readyz(services: ServicesDep) -> JSONResponse:
    """Ready when the database answers and the planner is loaded, lazy or disabled."""
    store_ok = await services.store.ping()
    planner = planner_state(services.plans.planner)
    ready = store_ok and planner in READY_PLANNER_STATES
    body = {"ready": ready, "store": "ok" if store_ok else "unavailable", "planner": planner}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
