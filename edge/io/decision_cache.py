"""Decision cache: replay a recent decision for the same words, twin state and versions without running the stages.

One SQLite table (WAL) in its own file, or in a database handle the caller shares. A file of its own is checked
at open (`PRAGMA quick_check`, no foreign tables); `open_or_rebuild` quarantines a damaged one and starts afresh.
Every method is synchronous and blocks on disk: the async daemon calls them through ``asyncio.to_thread``; a lock
makes that safe from any worker thread.

Invalidation: the versions (template, model, planner and a digest of the device registry) are part of the key, so a
model swap or a registry change misses by construction, even for a decision an in-flight request stores after the
change (capture the versions when the request starts). ``invalidate_versions(current)`` then only reclaims space;
``invalidate_all()`` is the blunt tool. A generation counter was not chosen: it frees nothing, and an in-memory one
does not survive a restart while a persisted one is the same as a version column.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlite_utils import Database

from edge.config import CacheSettings
from edge.io.dbfile import problem
from edge.ports import CachedDecision, Versions
from shared.decision import DecisionSource
from shared.errors import StorageError

log = logging.getLogger(__name__)

#: Reported values of one device by id (``Twins.values``); called on the worker thread, so it must not block.
TwinValues = Callable[[str], Mapping[str, Any]]
#: A hit refreshes its row's last-used time at most this often (the LRU order is kept to the minute).
TOUCH_EVERY_S = 60.0
TABLE = "decision_cache"
#: Hex characters of the sha256 kept as the twin fingerprint (64 bits: collisions among one sentence's rows are moot).
FINGERPRINT_CHARS = 16
_VERSIONS = "template_version = ? AND model_version = ? AND planner_version = ? AND registry_version = ?"
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    text TEXT NOT NULL, language TEXT NOT NULL,
    template_version TEXT NOT NULL, model_version TEXT NOT NULL, planner_version TEXT NOT NULL,
    registry_version TEXT NOT NULL,
    twin TEXT NOT NULL,  -- fingerprint of the twin values of device_ids when the decision was made
    device_ids TEXT NOT NULL,  -- JSON list, sorted
    source TEXT NOT NULL, value TEXT NOT NULL,  -- value: CachedDecision as JSON
    expires REAL NOT NULL, last_used REAL NOT NULL,  -- epoch seconds
    PRIMARY KEY (text, language, template_version, model_version, planner_version, registry_version, twin)
);
CREATE INDEX IF NOT EXISTS {TABLE}_lru ON {TABLE} (last_used);
CREATE INDEX IF NOT EXISTS {TABLE}_expires ON {TABLE} (expires);
"""


@dataclass(frozen=True, slots=True)
class CacheKey:
    """Folded text, language, fingerprint of the twin state the decision depends on, and versions."""

    text: str
    language: str
    twin: str
    versions: Versions


_CODEC: TypeAdapter[CachedDecision] = TypeAdapter(CachedDecision)
_CACHEABLE = (DecisionSource.TEMPLATE, DecisionSource.MODEL, DecisionSource.CLOUD)


def fold(text: str) -> str:
    """Width-, case- and space-folded text, so trivially different spellings share a row."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def fingerprint(device_ids: Iterable[str], values: TwinValues, volatile: frozenset[str] = frozenset()) -> str:
    """Short sha256 hex of the devices' twin values, volatile properties left out."""
    state = [[d, {k: v for k, v in values(d).items() if k not in volatile}] for d in sorted(set(device_ids))]
    blob = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:FINGERPRINT_CHARS]


class DecisionCache:
    """SQLite-backed decision cache with TTLs and an LRU bound; blocking methods, call via asyncio.to_thread."""

    def __init__(self, db: Database | Path | str, twin_values: TwinValues, settings: CacheSettings | None = None,
                 *, clock: Callable[[], float] = time.time) -> None:
        """Open (or share) the database and create the table. A shared Database needs check_same_thread=False."""
        self.settings = settings or CacheSettings()
        self._values = twin_values
        self._clock = clock  # wall clock, not monotonic: expiry times outlive the process
        self._volatile = frozenset(self.settings.volatile_props)
        self._lock = threading.Lock()
        self._owned = not isinstance(db, Database)
        self.hits = self.misses = self.evictions = self.expired = self.corrupt = self.errors = 0
        try:
            if isinstance(db, Database):
                self._db = db
            else:
                Path(db).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=30)
                self._db = Database(conn)
            if self._owned:
                self._check_own_file(self._db.conn)
            self._db.conn.execute("PRAGMA journal_mode=WAL")
            self._db.conn.execute("PRAGMA synchronous=NORMAL")
            self._db.conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open the decision cache in {db}: {exc} "
                               "(a cache in its own file can simply be deleted)") from None

    @classmethod
    def open_or_rebuild(cls, path: Path, twin_values: TwinValues, settings: CacheSettings | None = None,
                        *, clock: Callable[[], float] = time.time) -> tuple[DecisionCache, Path | None]:
        """The cache in its own file; a corrupt or foreign file is moved aside (returned) and a new cache begun.

        A cache only saves work, so a damaged one is quarantined for inspection rather than repaired or refused.
        """
        try:
            return cls(path, twin_values, settings, clock=clock), None
        except StorageError as exc:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(clock()))
            aside = path.with_name(f"{path.name}.corrupt-{stamp}")
            for suffix in ("", "-wal", "-shm"):  # the WAL belongs to the damaged file: keep them together
                part = Path(f"{path}{suffix}")
                if part.exists():
                    part.replace(f"{aside}{suffix}")
            log.error("decision cache quarantined and rebuilt empty", extra={"error": str(exc)[:300],
                                                                             "quarantined": str(aside)})
            return cls(path, twin_values, settings, clock=clock), aside

    @staticmethod
    def _check_own_file(conn: sqlite3.Connection) -> None:
        """Raise DatabaseError for a file that is damaged or holds tables that are not the cache's."""
        if (found := problem(conn, frozenset({TABLE}))) is not None:
            raise sqlite3.DatabaseError(f"not a usable decision cache: {found}")

    def key(self, text: str, language: str, versions: Versions, device_ids: Iterable[str]) -> CacheKey:
        """The key of a decision about `device_ids` in their current twin state."""
        return CacheKey(fold(text), language, fingerprint(device_ids, self._values, self._volatile), versions)

    def get(self, text: str, language: str, versions: Versions) -> CachedDecision | None:
        """A live decision for these words whose devices are still in the state it was made in; None is a miss."""
        with self._lock:
            try:
                return self._get(fold(text), language, versions)
            except sqlite3.Error as exc:  # a broken cache is a slower edge, never a failed request
                self.errors += 1
                self.misses += 1
                log.warning("decision cache lookup failed", extra={"error": str(exc)})
                return None

    def _get(self, text: str, language: str, versions: Versions) -> CachedDecision | None:
        now = self._clock()
        rows = self._db.conn.execute(
            f"SELECT rowid, twin, device_ids, value, expires, last_used FROM {TABLE} WHERE text = ? AND language = ? "
            f"AND {_VERSIONS}", [text, language, *astuple(versions)]).fetchall()
        prints: dict[tuple[str, ...], str] = {}  # several rows (states) of one sentence often share devices
        for rowid, twin, device_ids, value, expires, last_used in rows:
            try:
                if not isinstance(expires, int | float):
                    raise ValueError(f"expires is {expires!r}")
                if expires <= now:
                    self.expired += self._delete(rowid)
                    continue
                ids = json.loads(device_ids)
                if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                    raise ValueError("device_ids is not a list of strings")
                decision = _CODEC.validate_json(value)
            except (ValueError, TypeError, ValidationError) as exc:
                self.corrupt += self._delete(rowid)
                log.warning("corrupt decision cache row removed", extra={"text": text, "error": str(exc)[:200]})
                continue
            ids_key = tuple(ids)
            if ids_key not in prints:
                prints[ids_key] = fingerprint(ids, self._values, self._volatile)
            if prints[ids_key] != twin:
                continue  # the state changed; the row stays, the state may come back
            if not isinstance(last_used, int | float) or now - last_used >= TOUCH_EVERY_S:
                with self._db.conn:  # LRU to the minute: a write per hit would cost more than the hit itself
                    self._db.conn.execute(f"UPDATE {TABLE} SET last_used = ? WHERE rowid = ?", [now, rowid])
            self.hits += 1
            return decision
        self.misses += 1
        return None

    def put(self, text: str, language: str, versions: Versions, device_ids: Iterable[str],
            decision: CachedDecision) -> CacheKey:
        """Store a decision about `device_ids` (fingerprinted now), then evict expired and least recently used rows."""
        if decision.source not in _CACHEABLE:
            raise ValueError(f"only template, model and cloud decisions are cached, not {decision.source}")
        ids = sorted(set(device_ids))
        key = self.key(text, language, versions, ids)
        ttl = self.settings.cloud_ttl_s if decision.source is DecisionSource.CLOUD else self.settings.local_ttl_s
        with self._lock:
            now = self._clock()
            try:
                with self._db.conn:
                    self._db.conn.execute(
                        f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [key.text, language, *astuple(versions), key.twin, json.dumps(ids), decision.source.value,
                         _CODEC.dump_json(decision).decode(), now + ttl, now])
                    self._evict(now)
            except sqlite3.Error as exc:
                self.errors += 1
                log.warning("decision cache store failed", extra={"error": str(exc)})
        return key

    def _evict(self, now: float) -> None:
        conn = self._db.conn
        self.expired += conn.execute(f"DELETE FROM {TABLE} WHERE expires <= ?", [now]).rowcount
        (count,) = conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()
        excess = count - self.settings.max_entries
        if excess > 0:
            self.evictions += conn.execute(
                f"DELETE FROM {TABLE} WHERE rowid IN "
                f"(SELECT rowid FROM {TABLE} ORDER BY last_used, rowid LIMIT ?)", [excess]).rowcount

    def _delete(self, rowid: int) -> int:
        with self._db.conn:
            return self._db.conn.execute(f"DELETE FROM {TABLE} WHERE rowid = ?", [rowid]).rowcount

    def invalidate_all(self) -> int:
        """Forget every decision; returns how many. Raises StorageError: a failed invalidation must not pass."""
        return self._invalidate(f"DELETE FROM {TABLE}", [])

    def invalidate_versions(self, current: Versions) -> int:
        """Drop rows made under other versions (they can no longer hit); returns how many."""
        return self._invalidate(f"DELETE FROM {TABLE} WHERE NOT ({_VERSIONS})", list(astuple(current)))

    def _invalidate(self, sql: str, args: list[Any]) -> int:
        with self._lock:
            try:
                with self._db.conn:
                    return int(self._db.conn.execute(sql, args).rowcount)
            except sqlite3.Error as exc:
                raise StorageError(f"cannot invalidate the decision cache: {exc}") from None

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])

    def close(self) -> None:
        """Close the connection if the cache opened it (a shared Database stays open)."""
        with self._lock:
            if self._owned:
                self._db.conn.close()


def open_cache(settings: CacheSettings, path: Path, twin_values: TwinValues) -> DecisionCache | None:
    """The daemon's cache, or None when it is disabled or unusable (only slower without it; the file is kept)."""
    if not settings.enabled:
        return None
    try:
        cache, _ = DecisionCache.open_or_rebuild(path, twin_values, settings)
    except StorageError as exc:
        log.error("decision cache unusable, running without it: %s (delete %s to start afresh)", exc, path)
        return None
    return cache
