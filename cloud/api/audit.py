"""The audit log (auditor and admin). Site-scoped callers see entries of their sites only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from cloud.api.deps import ServicesDep, require
from cloud.api.errors import PROTECTED_ERRORS
from cloud.auth import Permission, Principal
from cloud.store import AuditQuery

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=PROTECTED_ERRORS)


class AuditPublic(BaseModel):
    """One audit entry."""

    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    trace_id: str
    site: str | None
    detail: dict[str, Any]


@router.get("", summary="Read the audit log")
async def list_audit(principal: Annotated[Principal, Depends(require(Permission.AUDIT_READ))],
                     services: ServicesDep, actor: str | None = None, action: str | None = None,
                     target: str | None = None, trace_id: str | None = None, since: datetime | None = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditPublic]:
    """Entries matching every filter, newest first."""
    query = AuditQuery(actor=actor, action=action, target=target, trace_id=trace_id, since=since,
                       sites=principal.sites, limit=limit)
    return [AuditPublic(id=e.id, ts=e.ts, actor=e.actor, action=e.action, target=e.target, trace_id=e.trace_id,
                        site=e.site, detail=e.detail) for e in await services.store.list_audit(query)]
