"""The uplink outbox: every message to the cloud is committed here first and leaves only after the broker's PUBACK.

A SQLite table (WAL, `synchronous=FULL`) in its own file, drained in insertion order, so reports about one device
reach the cloud in the order they were made, across disconnects and edge restarts. Delivery is at-least-once
(a crash between PUBACK and the delete sends a message again); every message carries an id and the cloud
de-duplicates. Synchronous methods: the daemon calls them through `asyncio.to_thread`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from edge.dbfile import problem
from shared.errors import StorageError

log = logging.getLogger(__name__)

TABLE = "outbox"
#: SQLite's `PRAGMA application_id` of an outbox file ("AGOB"): a file stamped otherwise is not ours.
APPLICATION_ID = 0x41474F42
#: Tables an outbox file may hold (AUTOINCREMENT keeps its counter in sqlite_sequence).
OWN_TABLES = frozenset({TABLE, "sqlite_sequence"})


@dataclass(frozen=True, slots=True)
class Pending:
    """One message waiting for the broker's acknowledgement."""

    seq: int
    topic: str
    payload: bytes


class Outbox:
    """Durable FIFO of uplink messages, bounded: when full, the oldest are dropped (and counted)."""

    def __init__(self, path: Path, *, max_messages: int = 1_000_000) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self._max = max_messages
        self._lock = threading.Lock()
        self.dropped = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._claim(path)  # before WAL mode: switching it rewrites the file header
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a report the edge acknowledged survives a power cut
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                             "topic TEXT NOT NULL, payload BLOB NOT NULL)")
            self._count = int(self._db.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the outbox {path}: {exc} (move the file away to start afresh; "
                               "unsent messages in it are then lost)") from None

    def _claim(self, path: Path) -> None:
        """Stamp a new or legacy outbox file as ours; refuse another program's database instead of writing to it."""
        found = problem(self._db, OWN_TABLES)
        if found is not None and found.startswith("damaged"):
            self._db.close()
            raise StorageError(f"the outbox {path} is {found}; nothing in it was changed: move the file away to start "
                               "afresh (its unsent messages are then lost) or recover it with `sqlite3 .recover`")
        app_id = int(self._db.execute("PRAGMA application_id").fetchone()[0])
        if app_id not in (0, APPLICATION_ID) or found is not None:
            self._db.close()
            raise StorageError(f"{path} is not an outbox (application_id {app_id:#x}, {found or 'tables ok'}); "
                               "give the outbox its own file: nothing in this one was changed")
        if app_id == 0:
            self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    def __len__(self) -> int:
        return self._count

    def put(self, topic: str, payload: bytes) -> int:
        """Commit one message; returns its sequence number."""
        with self._lock:
            try:
                cursor = self._db.execute(f"INSERT INTO {TABLE} (topic, payload) VALUES (?, ?)", (topic, payload))
                self._count += 1
                if self._count > self._max:
                    over = self._count - self._max
                    self._db.execute(f"DELETE FROM {TABLE} WHERE seq IN (SELECT seq FROM {TABLE} ORDER BY seq "
                                     "LIMIT ?)", (over,))
                    self._count -= over
                    self.dropped += over
                    log.warning("outbox full: oldest messages dropped", extra={"dropped": over})
            except sqlite3.Error as exc:
                raise StorageError(f"cannot write to the outbox: {exc}") from None
            return int(cursor.lastrowid or 0)

    def peek(self, limit: int = 100) -> list[Pending]:
        """The oldest messages, in order, without removing them."""
        with self._lock:
            try:
                rows = self._db.execute(f"SELECT seq, topic, payload FROM {TABLE} ORDER BY seq LIMIT ?",
                                        (limit,)).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"cannot read the outbox: {exc}") from None
        return [Pending(int(seq), str(topic), bytes(payload)) for seq, topic, payload in rows]

    def ack(self, seq: int) -> None:
        """The broker has the message: forget it."""
        with self._lock:
            try:
                deleted = self._db.execute(f"DELETE FROM {TABLE} WHERE seq = ?", (seq,)).rowcount
            except sqlite3.Error as exc:
                raise StorageError(f"cannot update the outbox: {exc}") from None
            self._count -= deleted

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
