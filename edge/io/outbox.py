"""The uplink outbox: every message to the cloud is committed here first and leaves only after the broker's PUBACK.

A SQLite table (WAL, `synchronous=FULL`) in its own file, drained in insertion order, so reports about one device
reach the cloud in the order they were made, across disconnects and edge restarts. Delivery is at-least-once
(a crash between PUBACK and the delete sends a message again); every message carries an id and the cloud
de-duplicates. Synchronous methods: the daemon calls them through `asyncio.to_thread`.

Overflow policy: beyond `max_messages` the oldest messages are dropped, never silently: every drop is counted per
topic in the same file (`outbox_dropped`, so the count outlives a restart), logged, passed to `on_drop` (the
daemon's metric), and reported to the cloud by the uplink (`dropped_report`, then `clear_dropped` once the cloud's
broker has the report).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from edge.io.dbfile import problem
from edge.ports import DroppedReport, Pending
from shared.errors import StorageError

log = logging.getLogger(__name__)

TABLE = "outbox"
#: Messages dropped by the overflow policy and not yet reported to the cloud, per topic.
DROPPED = "outbox_dropped"
#: SQLite's `PRAGMA application_id` of an outbox file ("AGOB"): a file stamped otherwise is not ours.
APPLICATION_ID = 0x41474F42
#: Tables an outbox file may hold (AUTOINCREMENT keeps its counter in sqlite_sequence).
OWN_TABLES = frozenset({TABLE, DROPPED, "sqlite_sequence"})
#: The oldest messages, as many as the one parameter says.
OLDEST = f"SELECT seq, topic FROM {TABLE} ORDER BY seq LIMIT ?"
#: A full outbox logs its first drop and then every this many.
LOG_EVERY = 1000


class Outbox:
    """Durable FIFO of uplink messages, bounded: when full, the oldest are dropped (counted, logged, reported)."""

    def __init__(self, path: Path, *, max_messages: int = 1_000_000,
                 on_drop: Callable[[int], None] | None = None, report_drops: bool = True) -> None:
        """`report_drops` is a safeguard only a negative control switches off: without it drops are still counted
        here, but `dropped_report` never has anything for the cloud."""
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self._max = max_messages
        self._path = path
        self._lock = threading.Lock()
        self._on_drop = on_drop
        self._report_drops = report_drops
        self.dropped = 0  # dropped by this instance (the unreported ones are in the file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._claim(path)  # before WAL mode: switching it rewrites the file header
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a report the edge acknowledged survives a power cut
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                             "topic TEXT NOT NULL, payload BLOB NOT NULL)")
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {DROPPED} (topic TEXT PRIMARY KEY, "
                             "count INTEGER NOT NULL, last_seq INTEGER NOT NULL)")
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

    @contextlib.contextmanager
    def _transaction(self, doing: str) -> Iterator[None]:
        """One write transaction (the caller holds the lock); a SQLite error is a StorageError naming the file."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageError(f"cannot {doing} the outbox {self._path}: {exc}") from None

    def __len__(self) -> int:
        return self._count

    @property
    def max_messages(self) -> int:
        """The bound beyond which the oldest messages are dropped."""
        return self._max

    def put(self, topic: str, payload: bytes) -> int:
        """Commit one message (dropping and counting the oldest beyond the bound); returns its sequence number."""
        return self.put_many([(topic, payload)])

    def put_many(self, messages: Sequence[tuple[str, bytes]]) -> int:
        """Commit messages (topic, payload) in order in one transaction: one fsync for all (group commit). Drops and
        counts the oldest beyond the bound; returns the last sequence number (0 for none)."""
        if not messages:
            return 0
        with self._lock:
            over = 0
            with self._transaction("write to"):  # the messages and the drops they cause commit together
                last = 0
                for topic, payload in messages:
                    cursor = self._db.execute(f"INSERT INTO {TABLE} (topic, payload) VALUES (?, ?)",
                                              (topic, payload))
                    last = int(cursor.lastrowid or 0)
                over = self._count + len(messages) - self._max
                if over > 0:
                    self._evict(over)
            self._count += len(messages) - max(over, 0)
            if over > 0:
                self._dropped(over)
            return last

    def _evict(self, over: int) -> None:
        """Drop the `over` oldest messages and count them per topic, inside the caller's transaction."""
        self._db.execute(
            f"INSERT INTO {DROPPED} (topic, count, last_seq) SELECT topic, COUNT(*), MAX(seq) FROM ({OLDEST}) "
            "WHERE true GROUP BY topic ON CONFLICT (topic) DO UPDATE SET count = count + excluded.count, "
            "last_seq = MAX(last_seq, excluded.last_seq)", (over,))
        self._db.execute(f"DELETE FROM {TABLE} WHERE seq IN (SELECT seq FROM ({OLDEST}))", (over,))

    def _dropped(self, over: int) -> None:
        before, self.dropped = self.dropped, self.dropped + over
        if before == 0 or before // LOG_EVERY != self.dropped // LOG_EVERY:
            log.warning("outbox full (%d messages): oldest dropped, %d so far; the cloud is told when it is back",
                        self._max, self.dropped, extra={"dropped": self.dropped, "outbox_max": self._max})
        if self._on_drop is not None:
            self._on_drop(over)

    def dropped_report(self) -> DroppedReport | None:
        """What the overflow policy dropped that the cloud has not been told about; None when nothing."""
        if not self._report_drops:
            return None
        with self._lock:
            try:
                rows = self._db.execute(f"SELECT topic, count, last_seq FROM {DROPPED} WHERE count > 0").fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"cannot read the outbox {self._path}: {exc}") from None
        if not rows:
            return None
        return DroppedReport({str(t): int(c) for t, c, _ in rows}, max(int(seq) for _, _, seq in rows))

    def clear_dropped(self, report: DroppedReport) -> None:
        """The cloud has `report`: forget those drops (drops counted since stay for the next report)."""
        with self._lock, self._transaction("update"):
            for topic, count in report.by_topic.items():
                self._db.execute(f"UPDATE {DROPPED} SET count = count - ? WHERE topic = ?", (count, topic))
            self._db.execute(f"DELETE FROM {DROPPED} WHERE count <= 0")

    def peek(self, limit: int = 100) -> list[Pending]:
        """The oldest messages, in order, without removing them."""
        with self._lock:
            try:
                rows = self._db.execute(f"SELECT seq, topic, payload FROM {TABLE} ORDER BY seq LIMIT ?",
                                        (limit,)).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"cannot read the outbox: {exc}") from None
        return [Pending(int(seq), str(topic), bytes(payload)) for seq, topic, payload in rows]

    def ack(self, seq: int, topic: str | None = None) -> None:
        """The broker has the message: forget it. Given its `topic`, a message the overflow policy dropped while it
        was being sent (so counted as dropped, though it arrived) is taken off the drops the cloud will be told of."""
        self.ack_many([(seq, topic)])

    def ack_many(self, sent: Sequence[tuple[int, str | None]]) -> None:
        """`ack` for several messages (seq, topic) in one transaction: one commit (one fsync) for a drained batch."""
        with self._lock:
            deleted = 0
            with self._transaction("update"):
                for seq, topic in sent:
                    gone = self._db.execute(f"DELETE FROM {TABLE} WHERE seq = ?", (seq,)).rowcount
                    if not gone and topic is not None:
                        self._db.execute(f"UPDATE {DROPPED} SET count = count - 1 WHERE topic = ? AND count > 0 "
                                         "AND last_seq >= ?", (topic, seq))
                    deleted += gone
            self._count -= deleted

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
