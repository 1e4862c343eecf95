"""API tokens (admin only). A site-scoped admin manages only tokens within its own sites; others read as 404."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.api.deps import ServicesDep, TraceId, require
from cloud.api.errors import PROTECTED_ERRORS, error_responses
from cloud.auth import Permission, Principal, Role, issue_token
from cloud.store import TokenRecord
from shared.envelope import utcnow
from shared.errors import NotFoundError, PermissionDeniedError

router = APIRouter(prefix="/v1/tokens", tags=["tokens"], responses=PROTECTED_ERRORS)
Admin = Annotated[Principal, Depends(require(Permission.TOKENS_MANAGE))]


class TokenCreate(BaseModel):
    """A token to issue."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    sites: list[str] | None = Field(default=None, min_length=1, description="None = every site")
    edge_id: str | None = Field(default=None, description="required for, and only for, role edge")
    name: str | None = Field(default=None, max_length=200)
    ttl_days: int | None = Field(default=None, ge=0, le=3650, description="0 = never expires; default from settings")

    @model_validator(mode="after")
    def _edge_needs_edge_id(self) -> TokenCreate:
        if (self.role is Role.EDGE) != (self.edge_id is not None):
            raise ValueError("role edge needs edge_id, and only role edge takes one")
        return self


class TokenPublic(BaseModel):
    """A token without its secret."""

    token_id: str
    role: str
    sites: list[str] | None
    edge_id: str | None
    name: str | None
    created_ts: datetime
    expires_ts: datetime | None
    revoked_ts: datetime | None

    @classmethod
    def of(cls, t: TokenRecord) -> TokenPublic:
        """From a stored token."""
        return cls(token_id=t.token_id, role=t.role, sites=None if t.sites is None else sorted(t.sites),
                   edge_id=t.edge_id, name=t.name, created_ts=t.created_ts, expires_ts=t.expires_ts,
                   revoked_ts=t.revoked_ts)


class TokenIssued(TokenPublic):
    """A new token; `token` is shown only this once."""

    token: str


def _within(principal: Principal, sites: frozenset[str] | None) -> bool:
    return principal.sites is None or (sites is not None and sites <= principal.sites)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Issue a token")
async def create_token(body: TokenCreate, principal: Admin, services: ServicesDep, trace_id: TraceId) -> TokenIssued:
    """Issue a token; its secret is in the answer only."""
    sites = None if body.sites is None else frozenset(body.sites)
    if not _within(principal, sites):
        raise PermissionDeniedError("a site-scoped admin can only issue tokens for its own sites")
    ttl_days = services.settings.token_ttl_days if body.ttl_days is None else body.ttl_days
    issued = issue_token(body.role, sites=sites, edge_id=body.edge_id, name=body.name,
                         ttl=timedelta(days=ttl_days) if ttl_days else None)
    await services.store.add_token(issued.record)
    await services.store.record(actor=principal.subject, action="token.create",
                                target=f"token:{issued.record.token_id}", trace_id=trace_id,
                                detail={"role": body.role.value, "sites": body.sites, "edge_id": body.edge_id})
    return TokenIssued(**TokenPublic.of(issued.record).model_dump(), token=issued.secret)


@router.get("", summary="List tokens")
async def list_tokens(principal: Admin, services: ServicesDep) -> list[TokenPublic]:
    """Tokens within the admin's sites, newest first."""
    return [TokenPublic.of(t) for t in await services.store.list_tokens() if _within(principal, t.sites)]


@router.delete("/{token_id}", summary="Revoke a token", responses=error_responses(404))
async def revoke_token(token_id: str, principal: Admin, services: ServicesDep, trace_id: TraceId) -> TokenPublic:
    """Revoke a token at once (idempotent)."""
    token = await services.store.get_token(token_id)
    if token is None or not _within(principal, token.sites):
        raise NotFoundError(f"token {token_id!r} not found")
    revoked = await services.store.revoke_token(token_id, utcnow())
    await services.store.record(actor=principal.subject, action="token.revoke", target=f"token:{token_id}",
                                trace_id=trace_id)
    return TokenPublic.of(revoked)
