"""The cloud Store on SQLite (WAL, sqlite-utils); every call runs on the database's worker thread."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cloud.fleet import Device
from cloud.sqlite_db import SqliteDb
from cloud.sqlite_db import in_clause as _in
from cloud.sqlite_db import parse_ts as _ts
from cloud.sqlite_db import where_clause as _where
from cloud.store import AuditEntry, AuditQuery, EdgeRecord, MergeResult, PlanRecord, TokenRecord, TwinRecord
from shared.envelope import utcnow
from shared.errors import ConflictError, NotFoundError
from shared.plan import Plan, PlanStatus
from shared.twin import TwinDocument, TwinProperty, TwinValue, is_newer


class SqliteStore(SqliteDb):
    """Edges, devices, twins, plans, audit log and tokens in one SQLite file; implements `cloud.store.Store`."""

    # edges
    async def upsert_edge(self, edge_id: str, *, site: str, name: str | None = None) -> EdgeRecord:
        """Register an edge or update its site/name; keeps its status."""
        def _upsert() -> EdgeRecord:
            self.db.execute(
                "INSERT INTO edges (edge_id, site, name, registered_ts) VALUES (?, ?, ?, ?) ON CONFLICT (edge_id) "
                "DO UPDATE SET site = excluded.site, name = COALESCE(excluded.name, edges.name)",
                [edge_id, site, name, utcnow().isoformat()])
            return self._edge(edge_id)  # type: ignore[return-value]
        return await self.call(_upsert)

    def _edge(self, edge_id: str) -> EdgeRecord | None:
        rows = self.rows("SELECT * FROM edges WHERE edge_id = ?", [edge_id])
        return self._edge_of(rows[0]) if rows else None

    @staticmethod
    def _edge_of(r: dict[str, Any]) -> EdgeRecord:
        return EdgeRecord(r["edge_id"], r["site"], r["name"], bool(r["online"]), _ts(r["last_seen"]),
                          _ts(r["registered_ts"]))

    async def get_edge(self, edge_id: str) -> EdgeRecord | None:
        """One edge."""
        return await self.call(self._edge, edge_id)

    async def list_edges(self, *, sites: frozenset[str] | None = None) -> list[EdgeRecord]:
        """Edges of `sites` (None = all), by id."""
        where, args = _where([_in("site", sites)] if sites is not None else [])
        return await self.call(lambda: [self._edge_of(r) for r in
                                         self.rows(f"SELECT * FROM edges {where} ORDER BY edge_id", args)])

    async def set_edge_status(self, edge_id: str, online: bool, ts: datetime) -> EdgeRecord:
        """Record an edge's status; a timestamp older than the last one is ignored."""
        def _set() -> EdgeRecord:
            edge = self._edge(edge_id)
            if edge is None:
                raise NotFoundError(f"edge {edge_id!r} is not registered")
            if edge.last_seen is None or ts >= edge.last_seen:
                self.db.execute("UPDATE edges SET online = ?, last_seen = ? WHERE edge_id = ?",
                                [int(online), ts.isoformat(), edge_id])
            return self._edge(edge_id)  # type: ignore[return-value]
        return await self.call(_set)

    # devices and twins
    async def upsert_device(self, device: Device) -> None:
        """Insert or update a device's description; its twin and desired version are kept."""
        d = device
        await self.call(lambda: self.db.execute(
            "INSERT INTO devices (device_id, edge_id, site, domain, name, area, device_class, state, updated_ts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET edge_id = excluded.edge_id, "
            "site = excluded.site, domain = excluded.domain, name = excluded.name, area = excluded.area, "
            "device_class = excluded.device_class, state = excluded.state, updated_ts = excluded.updated_ts",
            [d.device_id, d.edge_id, d.site, d.domain, d.name, d.area, d.device_class,
             json.dumps(d.state, sort_keys=True), utcnow().isoformat()]))

    async def remove_device(self, device_id: str) -> None:
        """Forget a device and its twin."""
        def _remove() -> None:
            with self.tx():
                self.db.execute("DELETE FROM devices WHERE device_id = ?", [device_id])
                self.db.execute("DELETE FROM twin WHERE device_id = ?", [device_id])
        await self.call(_remove)

    def _devices(self, where: str, args: list[Any]) -> list[Device]:
        out = []
        for r in self.rows(f"SELECT * FROM devices {where} ORDER BY device_id", args):
            reported = {row[0]: json.loads(row[1]) for row in self.db.execute(
                "SELECT prop, reported FROM twin WHERE device_id = ? AND reported_version IS NOT NULL",
                [r["device_id"]]).fetchall()}
            out.append(Device(r["device_id"], r["edge_id"], r["site"], r["domain"], r["name"], r["area"],
                              r["device_class"], {**json.loads(r["state"]), **reported}))
        return out

    async def get_device(self, device_id: str) -> Device | None:
        """One device; its `state` is its stored state overlaid with its reported twin values."""
        found = await self.call(self._devices, "WHERE device_id = ?", [device_id])
        return found[0] if found else None

    async def list_devices(self, *, sites: frozenset[str] | None = None, edge_id: str | None = None,
                           area: str | None = None, domain: str | None = None) -> list[Device]:
        """Devices matching every given filter, by id."""
        clauses = [_in("site", sites)] if sites is not None else []
        clauses += [(f"{col} = ?", [val]) for col, val in (("edge_id", edge_id), ("area", area), ("domain", domain))
                    if val is not None]
        return await self.call(self._devices, *_where(clauses))

    async def twin(self, device_id: str) -> TwinRecord | None:
        """The device's whole twin document and desired version."""
        def _load() -> TwinRecord | None:
            version = self.db.execute("SELECT desired_version FROM devices WHERE device_id = ?",
                                      [device_id]).fetchone()
            props: dict[str, TwinProperty] = {}
            for r in self.rows("SELECT * FROM twin WHERE device_id = ? ORDER BY prop", [device_id]):
                sides = {side: TwinValue(value=json.loads(r[side]), version=r[f"{side}_version"],
                                         ts=_ts(r[f"{side}_ts"]) or utcnow())
                         for side in ("desired", "reported") if r[f"{side}_version"] is not None}
                props[r["prop"]] = TwinProperty(**sides)
            if version is None and not props:
                return None
            return TwinRecord(TwinDocument(device_id=device_id, properties=props), version[0] if version else 0)
        return await self.call(_load)

    async def merge_reported(self, device_id: str, values: Mapping[str, TwinValue]) -> MergeResult:
        """Apply reported values whose version is newer than the stored one; the rest are stale."""
        def _merge() -> MergeResult:
            result = MergeResult()
            with self.tx() as conn:
                for prop, incoming in values.items():
                    row = conn.execute("SELECT reported_version FROM twin WHERE device_id = ? AND prop = ?",
                                       (device_id, prop)).fetchone()
                    current = TwinValue(version=row[0]) if row and row[0] is not None else None
                    if not is_newer(current, incoming):
                        result.stale.append(prop)
                        continue
                    conn.execute(
                        "INSERT INTO twin (device_id, prop, reported, reported_version, reported_ts) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, prop) DO UPDATE SET "
                        "reported = excluded.reported, reported_version = excluded.reported_version, "
                        "reported_ts = excluded.reported_ts",
                        (device_id, prop, json.dumps(incoming.value, sort_keys=True), incoming.version,
                         incoming.ts.isoformat()))
                    result.applied.append(prop)
            return result
        return await self.call(_merge)

    async def set_desired(self, device_id: str, values: Mapping[str, Any], expected_version: int | None) -> int:
        """Set desired values as one new document version; ConflictError when `expected_version` is stale."""
        def _set() -> int:
            with self.tx() as conn:
                row = conn.execute("SELECT desired_version FROM devices WHERE device_id = ?",
                                   (device_id,)).fetchone()
                if row is None:
                    raise NotFoundError(f"device {device_id!r} not found")
                if expected_version is not None and expected_version != row[0]:
                    raise ConflictError(f"twin of {device_id!r} is at version {row[0]}, not {expected_version}")
                version, now = row[0] + 1, utcnow().isoformat()
                conn.execute("UPDATE devices SET desired_version = ? WHERE device_id = ?", (version, device_id))
                for prop, value in values.items():
                    conn.execute(
                        "INSERT INTO twin (device_id, prop, desired, desired_version, desired_ts) VALUES "
                        "(?, ?, ?, ?, ?) ON CONFLICT (device_id, prop) DO UPDATE SET desired = excluded.desired, "
                        "desired_version = excluded.desired_version, desired_ts = excluded.desired_ts",
                        (device_id, prop, json.dumps(value, sort_keys=True), version, now))
                return int(version)
        return await self.call(_set)

    # plans
    async def add_plan(self, plan: PlanRecord) -> None:
        """Store a new plan."""
        p = plan
        await self.call(lambda: self.db.execute(
            "INSERT INTO plans (plan_id, edge_id, site, text, language, plan, status, trace_id, created_by, "
            "created_ts, updated_ts, sensitive_steps, model, result, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [p.plan_id, p.edge_id, p.site, p.text, p.language, p.plan.model_dump_json(), p.status.value,
             p.trace_id, p.created_by, p.created_ts.isoformat(), (p.updated_ts or p.created_ts).isoformat(),
             json.dumps(p.sensitive_steps), p.model, None if p.result is None else json.dumps(p.result), p.error]))

    @staticmethod
    def _plan_of(r: dict[str, Any]) -> PlanRecord:
        return PlanRecord(
            plan_id=r["plan_id"], edge_id=r["edge_id"], site=r["site"], text=r["text"], language=r["language"],
            plan=Plan.model_validate_json(r["plan"]), status=PlanStatus(r["status"]), trace_id=r["trace_id"],
            created_by=r["created_by"], created_ts=_ts(r["created_ts"]) or utcnow(),
            sensitive_steps=json.loads(r["sensitive_steps"]), model=r["model"], updated_ts=_ts(r["updated_ts"]),
            result=None if r["result"] is None else json.loads(r["result"]), error=r["error"])

    def _plan(self, plan_id: str) -> PlanRecord | None:
        rows = self.rows("SELECT * FROM plans WHERE plan_id = ?", [plan_id])
        return self._plan_of(rows[0]) if rows else None

    async def get_plan(self, plan_id: str) -> PlanRecord | None:
        """One plan."""
        return await self.call(self._plan, plan_id)

    async def list_plans(self, *, sites: frozenset[str] | None = None, edge_id: str | None = None,
                         status: PlanStatus | None = None, limit: int = 100) -> list[PlanRecord]:
        """Recent plans, newest first."""
        clauses = [_in("site", sites)] if sites is not None else []
        clauses += [(f"{c} = ?", [v]) for c, v in (("edge_id", edge_id), ("status", status)) if v is not None]
        where, args = _where(clauses)
        return await self.call(lambda: [self._plan_of(r) for r in self.rows(
            f"SELECT * FROM plans {where} ORDER BY created_ts DESC, plan_id LIMIT ?", [*args, limit])])

    async def update_plan(self, plan_id: str, *, status: PlanStatus, result: list[dict[str, Any]] | None = None,
                          error: str | None = None) -> PlanRecord:
        """Move a plan to `status`, with its run result or error."""
        def _update() -> PlanRecord:
            cursor = self.db.execute(
                "UPDATE plans SET status = ?, updated_ts = ?, result = COALESCE(?, result), error = ? "
                "WHERE plan_id = ?",
                [status.value, utcnow().isoformat(), None if result is None else json.dumps(result, default=str),
                 error, plan_id])
            if cursor.rowcount == 0:
                raise NotFoundError(f"plan {plan_id!r} not found")
            return self._plan(plan_id)  # type: ignore[return-value]
        return await self.call(_update)

    # audit
    async def record(self, *, actor: str, action: str, target: str, trace_id: str,
                     detail: dict[str, Any] | None = None) -> None:
        """Append one audit entry; `detail["site"]` scopes who may read it."""
        detail = detail or {}
        site = detail.get("site")
        await self.call(lambda: self.db.execute(
            "INSERT INTO audit (ts, actor, action, target, trace_id, site, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [utcnow().isoformat(), actor, action, target, trace_id, site if isinstance(site, str) else None,
             json.dumps(detail, default=str, ensure_ascii=False)]))

    async def list_audit(self, query: AuditQuery) -> list[AuditEntry]:
        """Audit entries matching `query`, newest first."""
        q = query
        clauses = [(f"{c} = ?", [v]) for c, v in (("actor", q.actor), ("action", q.action), ("target", q.target),
                                                  ("trace_id", q.trace_id)) if v is not None]
        if q.since is not None:
            since = q.since if q.since.tzinfo else q.since.replace(tzinfo=UTC)
            clauses.append(("ts >= ?", [since.astimezone(UTC).isoformat()]))
        if q.sites is not None:
            clauses.append(_in("site", q.sites))
        where, args = _where(clauses)
        return await self.call(lambda: [
            AuditEntry(r["id"], _ts(r["ts"]) or utcnow(), r["actor"], r["action"], r["target"], r["trace_id"],
                       r["site"], json.loads(r["detail"]))
            for r in self.rows(f"SELECT * FROM audit {where} ORDER BY id DESC LIMIT ?", [*args, q.limit])])

    # tokens
    async def add_token(self, token: TokenRecord) -> None:
        """Store a new token."""
        t = token
        await self.call(lambda: self.db.execute(
            "INSERT INTO tokens (token_id, secret_hash, role, sites, edge_id, name, created_ts, expires_ts, "
            "revoked_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [t.token_id, t.secret_hash, t.role, None if t.sites is None else json.dumps(sorted(t.sites)),
             t.edge_id, t.name, t.created_ts.isoformat(), t.expires_ts.isoformat() if t.expires_ts else None,
             t.revoked_ts.isoformat() if t.revoked_ts else None]))

    @staticmethod
    def _token_of(r: dict[str, Any]) -> TokenRecord:
        return TokenRecord(r["token_id"], r["secret_hash"], r["role"], _ts(r["created_ts"]) or utcnow(),
                           None if r["sites"] is None else frozenset(json.loads(r["sites"])), r["edge_id"],
                           r["name"], _ts(r["expires_ts"]), _ts(r["revoked_ts"]))

    def _token(self, token_id: str) -> TokenRecord | None:
        rows = self.rows("SELECT * FROM tokens WHERE token_id = ?", [token_id])
        return self._token_of(rows[0]) if rows else None

    async def get_token(self, token_id: str) -> TokenRecord | None:
        """One token."""
        return await self.call(self._token, token_id)

    async def list_tokens(self) -> list[TokenRecord]:
        """Every token, newest first."""
        return await self.call(lambda: [self._token_of(r) for r in self.rows(
            "SELECT * FROM tokens ORDER BY created_ts DESC, token_id", [])])

    async def revoke_token(self, token_id: str, ts: datetime) -> TokenRecord:
        """Mark a token revoked; the first revocation time is kept."""
        def _revoke() -> TokenRecord:
            self.db.execute("UPDATE tokens SET revoked_ts = COALESCE(revoked_ts, ?) WHERE token_id = ?",
                            [ts.isoformat(), token_id])
            token = self._token(token_id)
            if token is None:
                raise NotFoundError(f"token {token_id!r} not found")
            return token
        return await self.call(_revoke)
