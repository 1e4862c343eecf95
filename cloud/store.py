"""The cloud's storage port: edges, devices, twins, plans, audit log and API tokens.

One production implementation (`cloud.sqlite_store.SqliteStore`); a Postgres store can follow by
implementing this Protocol. Unknown ids read as `None`; writes to unknown ids raise NotFoundError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cloud.fleet import Device
from shared.plan import Plan, PlanStatus
from shared.twin import TwinDocument, TwinValue


@dataclass(frozen=True, slots=True)
class EdgeRecord:
    """A registered edge (gateway) and what the cloud last heard from it."""

    edge_id: str
    site: str
    name: str | None = None
    online: bool = False
    last_seen: datetime | None = None
    registered_ts: datetime | None = None


@dataclass(frozen=True, slots=True)
class TwinRecord:
    """A device's twin; `version` is the desired document's version (the ETag of optimistic concurrency)."""

    document: TwinDocument
    version: int


@dataclass(frozen=True, slots=True)
class MergeResult:
    """Outcome of merging reported values: keys applied, and stale keys dropped (lower or equal version)."""

    applied: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """A stored plan with its request, lifecycle and run result."""

    plan_id: str
    edge_id: str
    site: str
    text: str
    language: str
    plan: Plan
    status: PlanStatus
    trace_id: str
    created_by: str
    created_ts: datetime
    sensitive_steps: list[str] = field(default_factory=list)
    model: str | None = None
    updated_ts: datetime | None = None
    result: list[dict[str, Any]] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the append-only audit log."""

    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    trace_id: str
    site: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of the audit log; `sites` None = every site (entries without a site only then)."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    trace_id: str | None = None
    since: datetime | None = None
    sites: frozenset[str] | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token as stored: only the sha256 of its secret."""

    token_id: str
    secret_hash: str
    role: str
    created_ts: datetime
    sites: frozenset[str] | None = None
    edge_id: str | None = None
    name: str | None = None
    expires_ts: datetime | None = None
    revoked_ts: datetime | None = None


class Store(Protocol):
    """Everything the cloud keeps; each call is atomic."""

    async def open(self) -> None:
        """Create or open the database."""
        ...

    async def close(self) -> None:
        """Release the database."""
        ...

    async def ping(self) -> bool:
        """True when the database answers."""
        ...

    # edges
    async def upsert_edge(self, edge_id: str, *, site: str, name: str | None = None) -> EdgeRecord:
        """Register an edge or update its site/name; keeps its status."""
        ...

    async def get_edge(self, edge_id: str) -> EdgeRecord | None:
        """One edge."""
        ...

    async def list_edges(self, *, sites: frozenset[str] | None = None) -> list[EdgeRecord]:
        """Edges of `sites` (None = all), by id."""
        ...

    async def set_edge_status(self, edge_id: str, online: bool, ts: datetime) -> EdgeRecord:
        """Record an edge's status (MQTT birth/last will, heartbeat); older timestamps never win."""
        ...

    # devices and twins
    async def upsert_device(self, device: Device) -> None:
        """Insert or update a device's description (from the edge's discovery)."""
        ...

    async def remove_device(self, device_id: str) -> None:
        """Forget a device and its twin."""
        ...

    async def get_device(self, device_id: str) -> Device | None:
        """One device; its `state` is its reported twin values."""
        ...

    async def list_devices(self, *, sites: frozenset[str] | None = None, edge_id: str | None = None,
                           area: str | None = None, domain: str | None = None) -> list[Device]:
        """Devices matching every given filter, by id."""
        ...

    async def twin(self, device_id: str) -> TwinRecord | None:
        """The device's whole twin document and desired version."""
        ...

    async def merge_reported(self, device_id: str, values: Mapping[str, TwinValue]) -> MergeResult:
        """Apply reported values whose version is newer than the stored one; the device wins on reported."""
        ...

    async def set_desired(self, device_id: str, values: Mapping[str, Any], expected_version: int | None) -> int:
        """Set desired values; ConflictError when `expected_version` is not current. Returns the new version."""
        ...

    # plans
    async def add_plan(self, plan: PlanRecord) -> None:
        """Store a new plan."""
        ...

    async def get_plan(self, plan_id: str) -> PlanRecord | None:
        """One plan."""
        ...

    async def list_plans(self, *, sites: frozenset[str] | None = None, edge_id: str | None = None,
                         status: PlanStatus | None = None, limit: int = 100) -> list[PlanRecord]:
        """Recent plans, newest first."""
        ...

    async def update_plan(self, plan_id: str, *, status: PlanStatus, result: list[dict[str, Any]] | None = None,
                          error: str | None = None) -> PlanRecord:
        """Move a plan to `status`, with its run result or error."""
        ...

    # audit (the store is an AuditSink)
    async def record(self, *, actor: str, action: str, target: str, trace_id: str,
                     detail: dict[str, Any] | None = None) -> None:
        """Append one audit entry; `detail["site"]` scopes who may read it."""
        ...

    async def list_audit(self, query: AuditQuery) -> list[AuditEntry]:
        """Audit entries matching `query`, newest first."""
        ...

    # tokens
    async def add_token(self, token: TokenRecord) -> None:
        """Store a new token."""
        ...

    async def get_token(self, token_id: str) -> TokenRecord | None:
        """One token."""
        ...

    async def list_tokens(self) -> list[TokenRecord]:
        """Every token, newest first."""
        ...

    async def revoke_token(self, token_id: str, ts: datetime) -> TokenRecord:
        """Mark a token revoked (idempotent)."""
        ...
