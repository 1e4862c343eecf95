"""Edges: registration, status (MQTT birth/last will and heartbeats), heartbeats from the edge's own credential.

Site rule for every router: a resource outside the caller's sites (or, for an edge credential, another
edge's) reads as 404 for gets and writes alike, and is left out of lists; creating one in a site the
caller does not hold is 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field

from cloud.api.deps import Services, ServicesDep, TraceId, require
from cloud.api.errors import PROTECTED_ERRORS, error_responses
from cloud.auth import Permission, Principal
from cloud.store import EdgeRecord
from shared.envelope import utcnow
from shared.errors import NotFoundError, PermissionDeniedError

router = APIRouter(prefix="/v1/edges", tags=["edges"], responses=PROTECTED_ERRORS)

#: Ids that are safe as MQTT topic segments.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class EdgeCreate(BaseModel):
    """An edge to register."""

    model_config = ConfigDict(extra="forbid")

    edge_id: str = Field(pattern=ID_PATTERN)
    site: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=200)


class EdgePublic(BaseModel):
    """An edge as the API shows it."""

    edge_id: str
    site: str
    name: str | None
    online: bool = Field(description="last status online and a heartbeat or status within edge_offline_after_s")
    last_seen: datetime | None
    registered_ts: datetime | None

    @classmethod
    def of(cls, edge: EdgeRecord, offline_after_s: float) -> EdgePublic:
        """From a stored edge; a silent edge counts as offline even if its last status said online."""
        fresh = edge.last_seen is not None and (utcnow() - edge.last_seen).total_seconds() <= offline_after_s
        return cls(edge_id=edge.edge_id, site=edge.site, name=edge.name, online=edge.online and fresh,
                   last_seen=edge.last_seen, registered_ts=edge.registered_ts)


async def visible_edge(services: Services, principal: Principal, edge_id: str) -> EdgeRecord:
    """The edge if the principal may see it, else NotFoundError."""
    edge = await services.store.get_edge(edge_id)
    if edge is None or not principal.sees_edge(edge):
        raise NotFoundError(f"edge {edge_id!r} not found")
    return edge


@router.post("", status_code=status.HTTP_201_CREATED, summary="Register an edge")
async def register_edge(body: EdgeCreate, principal: Annotated[Principal, Depends(require(Permission.EDGES_WRITE))],
                        services: ServicesDep, trace_id: TraceId) -> EdgePublic:
    """Register (or re-register) an edge in a site the caller holds."""
    if not principal.sees_site(body.site):
        raise PermissionDeniedError(f"this token cannot register edges in site {body.site!r}")
    existing = await services.store.get_edge(body.edge_id)
    if existing is not None and not principal.sees_edge(existing):
        raise PermissionDeniedError(f"edge id {body.edge_id!r} belongs to a site this token cannot manage")
    edge = await services.store.upsert_edge(body.edge_id, site=body.site, name=body.name)
    await services.store.record(actor=principal.subject, action="edge.register", target=f"edge:{edge.edge_id}",
                                trace_id=trace_id, detail={"site": edge.site, "name": edge.name})
    return EdgePublic.of(edge, services.settings.edge_offline_after_s)


@router.get("", summary="List edges")
async def list_edges(principal: Annotated[Principal, Depends(require(Permission.EDGES_READ))],
                     services: ServicesDep) -> list[EdgePublic]:
    """Edges the caller may see, with online status."""
    edges = await services.store.list_edges(sites=principal.sites)
    return [EdgePublic.of(e, services.settings.edge_offline_after_s) for e in edges if principal.sees_edge(e)]


@router.get("/{edge_id}", summary="One edge", responses=error_responses(404))
async def get_edge(edge_id: str, principal: Annotated[Principal, Depends(require(Permission.EDGES_READ))],
                   services: ServicesDep) -> EdgePublic:
    """One edge with its online status."""
    return EdgePublic.of(await visible_edge(services, principal, edge_id), services.settings.edge_offline_after_s)


@router.post("/{edge_id}/heartbeat", summary="Heartbeat from the edge's own credential",
             responses=error_responses(404))
async def heartbeat(edge_id: str, principal: Annotated[Principal, Depends(require(Permission.EDGES_HEARTBEAT))],
                    services: ServicesDep) -> EdgePublic:
    """Mark the edge online now (not audited: it is a liveness signal, not a change)."""
    await visible_edge(services, principal, edge_id)
    edge = await services.store.set_edge_status(edge_id, True, utcnow())
    return EdgePublic.of(edge, services.settings.edge_offline_after_s)
