"""SQLite plumbing of the cloud store: schema, one worker thread that owns the connection, transactions."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from shared.errors import StorageError

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS edges (edge_id TEXT PRIMARY KEY, site TEXT NOT NULL, name TEXT,
    online INTEGER NOT NULL DEFAULT 0, last_seen TEXT, registered_ts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (device_id TEXT PRIMARY KEY, edge_id TEXT NOT NULL, site TEXT NOT NULL,
    domain TEXT NOT NULL, name TEXT NOT NULL, area TEXT, device_class TEXT, state TEXT NOT NULL,
    desired_version INTEGER NOT NULL DEFAULT 0, updated_ts TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS devices_edge ON devices (edge_id);
CREATE TABLE IF NOT EXISTS twin (device_id TEXT NOT NULL, prop TEXT NOT NULL,
    reported TEXT, reported_version INTEGER, reported_ts TEXT,
    desired TEXT, desired_version INTEGER, desired_ts TEXT, PRIMARY KEY (device_id, prop));
CREATE TABLE IF NOT EXISTS plans (plan_id TEXT PRIMARY KEY, edge_id TEXT NOT NULL, site TEXT NOT NULL,
    text TEXT NOT NULL, language TEXT NOT NULL, plan TEXT NOT NULL, status TEXT NOT NULL, trace_id TEXT NOT NULL,
    created_by TEXT NOT NULL, created_ts TEXT NOT NULL, updated_ts TEXT, sensitive_steps TEXT NOT NULL,
    model TEXT, result TEXT, error TEXT);
CREATE INDEX IF NOT EXISTS plans_created ON plans (created_ts);
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, trace_id TEXT NOT NULL, site TEXT, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_trace ON audit (trace_id);
CREATE TABLE IF NOT EXISTS tokens (token_id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, role TEXT NOT NULL,
    sites TEXT, edge_id TEXT, name TEXT, created_ts TEXT NOT NULL, expires_ts TEXT, revoked_ts TEXT);
"""


def parse_ts(value: str | None) -> datetime | None:
    """An ISO timestamp column, or None."""
    return datetime.fromisoformat(value) if value else None


def in_clause(column: str, values: frozenset[str]) -> tuple[str, list[Any]]:
    """`column IN (?, ...)` and its arguments."""
    return f"{column} IN ({', '.join('?' for _ in values)})", sorted(values)


def where_clause(clauses: list[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    """`WHERE a AND b` and the arguments, or nothing."""
    if not clauses:
        return "", []
    return "WHERE " + " AND ".join(c for c, _ in clauses), [a for _, args in clauses for a in args]


class SqliteDb:
    """One SQLite file (WAL, synchronous=FULL) behind a single worker thread, so the event loop never blocks."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="cloud-db")
        self._db: Database | None = None

    async def open(self) -> None:
        """Create or open the database; a file that is not our database is refused, never reset."""
        await self.call(self._open)

    def _open(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # audit log and tokens must survive a power cut
            conn.executescript(SCHEMA)
            self._db = Database(conn)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open cloud database {self._path}: {exc} "
                               "(move the file away to start with an empty database)") from None

    async def close(self) -> None:
        """Close the connection and the worker thread."""
        def _close() -> None:
            if self._db is not None:
                self._db.conn.close()
                self._db = None
        await self.call(_close)
        self._executor.shutdown(wait=True)

    async def ping(self) -> bool:
        """True when the database answers."""
        try:
            return await self.call(lambda: self.db.execute("SELECT 1").fetchone() == (1,))
        except (StorageError, RuntimeError):
            return False

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the worker thread; sqlite errors become StorageError."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            raise StorageError(f"cloud database error: {exc}") from None

    @property
    def db(self) -> Database:
        """The sqlite-utils handle (worker thread only)."""
        if self._db is None:
            raise StorageError("cloud database is not open")
        return self._db

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction (worker thread only); rolled back on any error."""
        # The connection is in autocommit mode, so a multi-statement write needs its own BEGIN.
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # SQLite rolls back by itself after some errors (SQLITE_FULL): keep the cause
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def rows(self, sql: str, args: list[Any]) -> list[dict[str, Any]]:
        """Query results as dicts (worker thread only)."""
        cursor = self.db.execute(sql, args)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
