"""Plans: propose (`POST /v1/plan`), read, run (confirmation for sensitive steps) and cancel.

Site rule as in `cloud.api.edges`: plans of edges the caller cannot see are 404; edge credentials see
only their own edge's plans.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from cloud.api.deps import ServicesDep, TraceId, require
from cloud.api.errors import PROTECTED_ERRORS, error_responses
from cloud.auth import Permission, Principal
from cloud.store import PlanRecord
from shared.plan import PlanRequest, PlanResponse, PlanStatus

router = APIRouter(tags=["plans"], responses=PROTECTED_ERRORS)


class PlanDetail(PlanResponse):
    """A stored plan: the proposal plus its request and run result."""

    edge_id: str
    site: str
    text: str
    language: str
    created_by: str
    created_ts: datetime
    updated_ts: datetime | None = None
    result: list[dict[str, Any]] | None = None
    error: str | None = None

    @classmethod
    def of(cls, r: PlanRecord) -> PlanDetail:
        """From a stored plan."""
        return cls(plan_id=r.plan_id, plan=r.plan, status=r.status, trace_id=r.trace_id,
                   sensitive_steps=r.sensitive_steps, model=r.model, edge_id=r.edge_id, site=r.site, text=r.text,
                   language=r.language, created_by=r.created_by, created_ts=r.created_ts, updated_ts=r.updated_ts,
                   result=r.result, error=r.error)


class RunRequest(BaseModel):
    """Run options; sensitive plans need `confirm: true`."""

    model_config = ConfigDict(extra="forbid")

    confirm: bool = False


@router.post("/v1/plan", summary="Propose a plan for a request the edge cannot handle",
             responses=error_responses(404, 429, 502, 503, 504))
async def propose(body: PlanRequest, principal: Annotated[Principal, Depends(require(Permission.PLANS_CREATE))],
                  services: ServicesDep, trace_id: TraceId) -> PlanResponse:
    """A validated task graph over the devices of `edge_id` the caller may see."""
    record = await services.plans.propose(body, principal, trace_id=trace_id)
    return PlanResponse(plan_id=record.plan_id, plan=record.plan, status=record.status, trace_id=record.trace_id,
                        sensitive_steps=record.sensitive_steps, model=record.model)


@router.get("/v1/plans", summary="List plans")
async def list_plans(principal: Annotated[Principal, Depends(require(Permission.PLANS_READ))], services: ServicesDep,
                     edge_id: str | None = None, status: PlanStatus | None = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[PlanDetail]:
    """Recent plans the caller may see, newest first."""
    return [PlanDetail.of(r) for r in await services.plans.list_plans(principal, edge_id=edge_id, status=status,
                                                                 limit=limit)]


@router.get("/v1/plans/{plan_id}", summary="One plan", responses=error_responses(404))
async def get_plan(plan_id: str, principal: Annotated[Principal, Depends(require(Permission.PLANS_READ))],
                   services: ServicesDep) -> PlanDetail:
    """A plan with its status and run result."""
    return PlanDetail.of(await services.plans.get(plan_id, principal))


@router.post("/v1/plans/{plan_id}/run", status_code=202, summary="Run a plan in the background",
             responses=error_responses(404, 409, 503))
async def run_plan(plan_id: str, principal: Annotated[Principal, Depends(require(Permission.PLANS_RUN))],
                   services: ServicesDep, trace_id: TraceId, body: RunRequest | None = None) -> PlanDetail:
    """Start the plan; poll `GET /v1/plans/{id}` for the result."""
    confirm = body.confirm if body is not None else False
    return PlanDetail.of(await services.plans.run(plan_id, principal, confirm=confirm, trace_id=trace_id))


@router.post("/v1/plans/{plan_id}/cancel", summary="Cancel a plan",
             responses=error_responses(404, 409))
async def cancel_plan(plan_id: str, principal: Annotated[Principal, Depends(require(Permission.PLANS_CANCEL))],
                      services: ServicesDep, trace_id: TraceId) -> PlanDetail:
    """Cancel a proposed or running plan."""
    return PlanDetail.of(await services.plans.cancel(plan_id, principal, trace_id=trace_id))
