"""`autoglm trace ID`: one request's timeline from the edge's decision records and the cloud's audit log."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.errors import StorageError


@dataclass(frozen=True, slots=True)
class Event:
    """One line of a timeline."""

    ts: datetime
    side: str  # "edge" or "cloud"
    what: str
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The JSON line of `autoglm trace --json`."""
        return {"ts": self.ts.isoformat(), "side": self.side, "what": self.what, "detail": self.detail}

    def line(self) -> str:
        """One human-readable line."""
        brief = ", ".join(f"{k}={v}" for k, v in self.detail.items() if v not in (None, "", [], {}))
        return f"{self.ts.isoformat(timespec='milliseconds')}  {self.side:<5}  {self.what:<28} {brief}"


async def timeline(trace_id: str, *, edge_db: Path | None, cloud_db: Path | None) -> list[Event]:
    """Every record of `trace_id` in the given databases, oldest first."""
    events: list[Event] = []
    if edge_db is not None:
        events += await _edge_events(trace_id, edge_db)
    if cloud_db is not None:
        events += await _cloud_events(trace_id, cloud_db)
    return sorted(events, key=lambda e: e.ts)


async def _edge_events(trace_id: str, path: Path) -> list[Event]:
    from edge.io.store import EdgeStore

    if not await asyncio.to_thread(path.is_file):
        raise StorageError(f"no edge database at {path} (pass --edge-db, or --no-edge)")
    store = EdgeStore(path)
    await store.open()
    try:
        decisions = await store.decisions(trace_id, limit=1000)
    finally:
        await store.close()
    out = []
    for d in decisions:
        out.append(Event(d.ts, "edge", f"decision {d.outcome.value}",
                         {"text": d.text, "source": d.source.value if d.source else None, "intent": d.intent,
                          "plan_id": d.plan_id, "when": d.when, "stages_ms": d.stages_ms, "reply": d.reply}))
        out += [Event(d.ts, "edge", f"device {a.outcome.value if a.outcome else 'sent'}",
                      {"device_id": a.device_id, "command": a.command, "detail": a.detail}) for a in d.actions]
    return out


async def _cloud_events(trace_id: str, path: Path) -> list[Event]:
    from cloud.sqlite_store import SqliteStore
    from cloud.store import AuditQuery

    if not await asyncio.to_thread(path.is_file):
        raise StorageError(f"no cloud database at {path} (pass --cloud-db, or --no-cloud)")
    store = SqliteStore(path)
    await store.open()
    try:
        entries = await store.list_audit(AuditQuery(trace_id=trace_id, limit=1000))
    finally:
        await store.close()
    return [Event(e.ts, "cloud", e.action, {"actor": e.actor, "target": e.target, **e.detail}) for e in entries]
