"""The edge's SQLite store (WAL): device registry, twins and decision records.

All access goes through one worker thread that owns the connection, so the event loop never
blocks on disk. Multi-statement writes are IMMEDIATE transactions, so a second process on the same
file (a CLI, a second daemon by mistake) waits for the lock instead of interleaving a read-modify-write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlite_utils import Database

from edge.ports import StoredDevice, TwinRow
from shared.decision import Decision
from shared.envelope import utcnow
from shared.errors import StorageError

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    component TEXT NOT NULL,
    config TEXT NOT NULL,
    discovery_topic TEXT NOT NULL,
    available INTEGER,
    updated_ts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS twin (
    device_id TEXT NOT NULL,
    prop TEXT NOT NULL,
    reported TEXT,
    reported_version INTEGER NOT NULL DEFAULT 0,
    reported_ts TEXT,
    desired TEXT,
    desired_version INTEGER NOT NULL DEFAULT 0,
    desired_ts TEXT,
    PRIMARY KEY (device_id, prop)
);
CREATE TABLE IF NOT EXISTS decisions (
    id TEXT PRIMARY KEY,
    trace_id TEXT NOT NULL,
    utterance_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    outcome TEXT NOT NULL,
    source TEXT,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_trace ON decisions (trace_id);
CREATE TABLE IF NOT EXISTS desired_accepted (
    device_id TEXT NOT NULL,
    prop TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (device_id, prop)
);
CREATE TABLE IF NOT EXISTS applied_messages (
    seq INTEGER PRIMARY KEY,
    mark TEXT NOT NULL UNIQUE
);
"""
#: Marks of applied QoS 1 state messages kept (a redelivery comes within the broker's in-flight window; packet ids
#: of one session run sequentially to 65535, so none repeats among these).
APPLIED_KEPT = 4096


class EdgeStore:
    """Registry, twins and decisions in one SQLite file."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        """`busy_timeout_s`: how long a write waits for another writer's lock (0 only in a negative control)."""
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="edge-db")
        self._db: Database | None = None

    async def open(self) -> None:
        """Create or open the database; a file that is not our database is refused, never reset."""
        await self._call(self._open)

    def _open(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False,
                                   timeout=self._busy_timeout_s)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(SCHEMA)
            self._db = Database(conn)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open edge database {self._path}: {exc} "
                               "(move the file away to start with an empty registry)") from None

    async def close(self) -> None:
        """Close the connection and the worker thread."""
        def _close() -> None:
            if self._db is not None:
                self._db.conn.close()
                self._db = None
        await self._call(_close)
        self._executor.shutdown(wait=True)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                raise StorageError(f"edge database {self._path} is full ({exc}): nothing was written; "
                                   "free disk space") from None
            raise StorageError(f"edge database {self._path}: {exc}") from None

    @property
    def db(self) -> Database:
        """The sqlite-utils handle (worker thread only)."""
        if self._db is None:
            raise StorageError("edge database is not open")
        return self._db

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding the write lock from its first read (worker thread only)."""
        conn = self.db.conn  # autocommit mode: without an explicit BEGIN every statement commits on its own
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # SQLite rolls back by itself after some errors (SQLITE_FULL): keep the cause
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # devices
    async def upsert_device(self, device: StoredDevice) -> None:
        """Insert or replace a device's discovery config."""
        await self._call(self._upsert_device, device)

    def _upsert_device(self, d: StoredDevice) -> None:
        self.db.table("devices").upsert(
            {"device_id": d.device_id, "component": d.component, "config": json.dumps(d.config),
             "discovery_topic": d.discovery_topic, "available": d.available, "updated_ts": utcnow().isoformat()},
            pk="device_id",
        )

    async def remove_device(self, device_id: str) -> None:
        """Forget a device and its twin."""
        def _remove() -> None:
            with self._tx() as conn:
                conn.execute("DELETE FROM devices WHERE device_id = ?", [device_id])
                conn.execute("DELETE FROM twin WHERE device_id = ?", [device_id])
        await self._call(_remove)

    async def set_available(self, device_id: str, available: bool) -> None:
        """Record availability."""
        await self._call(lambda: self.db.execute(
            "UPDATE devices SET available = ? WHERE device_id = ?", [int(available), device_id]))

    async def devices(self) -> list[StoredDevice]:
        """Every known device."""
        def _load() -> list[StoredDevice]:
            return [
                StoredDevice(r["device_id"], r["component"], json.loads(r["config"]), r["discovery_topic"],
                             None if r["available"] is None else bool(r["available"]))
                for r in self.db["devices"].rows
            ]
        return await self._call(_load)

    # twins
    async def apply_reported(self, device_id: str, values: dict[str, Any], mark: str | None = None) -> dict[str, int]:
        """Store reported values that changed; returns {prop: new version} for each change. `mark` names the message
        they came from (topic, packet id, payload digest, device): committed with them, so a redelivery of an
        applied message is known (`applied`) and not taken for a new change."""
        return await self._call(self._apply, device_id, values, "reported", None, mark)

    async def applied(self, mark: str) -> bool:
        """Whether the message `mark` names was applied (see apply_reported)."""
        def _find() -> bool:
            return self.db.execute("SELECT 1 FROM applied_messages WHERE mark = ?", (mark,)).fetchone() is not None
        return await self._call(_find)

    async def apply_desired(self, device_id: str, values: dict[str, Any],
                            versions: dict[str, int] | None = None) -> dict[str, int]:
        """Store desired values (what the edge last commanded) and, in the same transaction, the cloud's `versions`
        of them the edge accepted (0 forgets one), so a stale desired value stays refused after a restart."""
        return await self._call(self._apply, device_id, values, "desired", versions)

    async def accepted_versions(self) -> dict[tuple[str, str], int]:
        """The cloud's desired version last accepted per (device, property)."""
        def _load() -> dict[tuple[str, str], int]:
            rows = self.db.execute("SELECT device_id, prop, version FROM desired_accepted").fetchall()
            return {(str(d), str(p)): int(v) for d, p, v in rows}
        return await self._call(_load)

    def _apply(self, device_id: str, values: dict[str, Any], side: Literal["reported", "desired"],
               versions: dict[str, int] | None = None, mark: str | None = None) -> dict[str, int]:
        now = utcnow().isoformat()
        changed: dict[str, int] = {}
        with self._tx() as conn:
            if mark is not None:
                seq = conn.execute("INSERT OR IGNORE INTO applied_messages (mark) VALUES (?)", (mark,)).lastrowid
                if seq and seq % 256 == 0:
                    conn.execute("DELETE FROM applied_messages WHERE seq <= ?", (seq - APPLIED_KEPT,))
            for prop, accepted in (versions or {}).items():
                conn.execute("INSERT INTO desired_accepted (device_id, prop, version) VALUES (?, ?, ?) "
                             "ON CONFLICT (device_id, prop) DO UPDATE SET version = excluded.version",
                             (device_id, prop, accepted))
            for prop, value in values.items():
                encoded = json.dumps(value, sort_keys=True)
                row = conn.execute(
                    f"SELECT {side}, {side}_version FROM twin WHERE device_id = ? AND prop = ?", (device_id, prop)
                ).fetchone()
                if row is not None and row[0] == encoded:
                    continue
                version = (row[1] if row else 0) + 1
                conn.execute(
                    f"INSERT INTO twin (device_id, prop, {side}, {side}_version, {side}_ts) VALUES (?, ?, ?, ?, ?) "
                    f"ON CONFLICT (device_id, prop) DO UPDATE SET {side} = excluded.{side}, "
                    f"{side}_version = excluded.{side}_version, {side}_ts = excluded.{side}_ts",
                    (device_id, prop, encoded, version, now),
                )
                changed[prop] = version
        return changed

    async def twin(self, device_id: str | None = None) -> list[TwinRow]:
        """Twin rows of one device, or of all."""
        def _load() -> list[TwinRow]:
            where, args = ("WHERE device_id = ?", [device_id]) if device_id else ("", [])
            rows = self.db.execute(
                f"SELECT device_id, prop, reported, reported_version, desired, desired_version FROM twin {where}",
                args).fetchall()
            return [TwinRow(r[0], r[1], json.loads(r[2]) if r[2] is not None else None, r[3],
                            json.loads(r[4]) if r[4] is not None else None, r[5]) for r in rows]
        return await self._call(_load)

    # decisions
    async def add_decision(self, decision: Decision) -> None:
        """Keep a decision record."""
        row = (decision.id, decision.trace_id, decision.utterance_id, decision.ts.isoformat(), decision.outcome.value,
               decision.source.value if decision.source else None, decision.model_dump_json())

        def _add() -> None:
            # Plain SQL: sqlite-utils' insert introspects the table on every call, on the hot path of each command.
            self.db.execute("INSERT OR REPLACE INTO decisions (id, trace_id, utterance_id, ts, outcome, source, "
                            "record) VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        await self._call(_add)

    async def decisions(self, trace_id: str | None = None, limit: int = 100) -> list[Decision]:
        """Recent decision records, newest first."""
        def _load() -> list[Decision]:
            where, args = ("WHERE trace_id = ?", [trace_id]) if trace_id else ("", [])
            rows = self.db.execute(
                f"SELECT record FROM decisions {where} ORDER BY ts DESC LIMIT ?", [*args, limit]).fetchall()
            return [Decision.model_validate_json(r[0]) for r in rows]
        return await self._call(_load)
