"""Edge storage under concurrent writers, and damaged or foreign files at start.

Concurrent writers: several `EdgeStore`s (own connections, own worker threads) on one file bump the same twin
property; every write changes the value, so every write must get its own version, none may be lost, and no
"database is locked" may reach a caller. The negative control gives the connections no busy timeout.
Files at start: garbage, another program's database, and damaged pages behind a valid header, given to the outbox
(must refuse, file untouched) and to the decision cache (must quarantine the file untouched and start empty). The
negative control opens the same files the naive way (create the table if missing) and counts silent changes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench.reliability.scenario import Scenario
from edge.io.decision_cache import DecisionCache
from edge.io.outbox import Outbox
from edge.io.store import EdgeStore, StoredDevice
from shared.errors import StorageError

DEVICE = StoredDevice("light.shared", "light", {}, "homeassistant/light/shared/config", True)


class NoWaitStore(EdgeStore):
    """The negative control's store: a connection that gives up at once when another writer holds the lock."""

    def _open(self) -> None:
        super()._open()
        self.db.conn.execute("PRAGMA busy_timeout = 0")


async def concurrent_writers(db: Path, writers: int, ops: int, *, safeguard: bool = True) -> dict[str, Any]:
    """`writers` stores on one file, `ops` reported-state writes each to one property, all at once."""
    kind = EdgeStore if safeguard else NoWaitStore
    stores = [kind(db) for _ in range(writers)]
    for store in stores:
        await store.open()
    try:
        await stores[0].upsert_device(DEVICE)
        versions: list[int] = []
        locked = other_errors = 0

        async def writer(w: int) -> None:
            nonlocal locked, other_errors
            for k in range(ops):
                try:
                    changed = await stores[w].apply_reported(DEVICE.device_id, {"brightness": w * ops + k})
                    versions.extend(changed.values())
                except StorageError as exc:
                    if "locked" in str(exc) or "busy" in str(exc):
                        locked += 1
                    else:
                        other_errors += 1

        await asyncio.gather(*(writer(w) for w in range(writers)))
        rows = await stores[0].twin(DEVICE.device_id)
    finally:
        for store in stores:
            await store.close()
    final = next((r.reported_version for r in rows if r.prop == "brightness"), 0)
    written = len(versions)
    collisions = written - len(set(versions))  # two writes given one version: one of them was overwritten
    return {"writers": writers, "ops": writers * ops, "safeguard": safeguard, "written": written,
            "locked_errors": locked, "other_errors": other_errors, "version_collisions": collisions,
            "final_version": final, "lost": max(0, written - final)}


def damaged_files(root: Path) -> dict[str, Path]:
    """Three bad files: garbage, another program's database, and an outbox with damaged pages behind a valid header."""
    root.mkdir(parents=True, exist_ok=True)
    garbage = root / "garbage.db"
    garbage.write_bytes(b"not a database " * 1000)
    foreign = root / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE devices (device_id TEXT PRIMARY KEY, name TEXT)")
    conn.executemany("INSERT INTO devices VALUES (?, ?)", [(f"d{i}", "x" * 100) for i in range(200)])
    conn.commit()
    conn.close()
    damaged = root / "damaged.db"
    box = Outbox(damaged)
    for i in range(300):
        box.put("autoglm/v1/edges/e1/twin/reported", b"x" * 200 + str(i).encode())
    box.close()
    damage_pages(damaged)
    return {"garbage": garbage, "foreign": foreign, "damaged_pages": damaged}


def damage_pages(path: Path) -> None:
    """Overwrite the start of a closed SQLite file's third page (its WAL folded in first); the header stays valid."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page * 2:page * 2 + 200] = b"\xff" * 200
    path.write_bytes(bytes(data))


def naive_open(path: Path) -> None:
    """The negative control: open and create the outbox table if it is missing, as a store without checks would."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT, "
                     "payload BLOB)")
        conn.execute("INSERT INTO outbox (topic, payload) VALUES ('t', x'00')")
        conn.commit()
    finally:
        conn.close()


async def files_at_start(root: Path, *, safeguard: bool = True) -> dict[str, Any]:
    """Bad files given to the outbox (refuse, untouched) and the decision cache (quarantine untouched, start empty)."""
    files = damaged_files(root)
    figures: dict[str, Any] = {"files": len(files), "safeguard": safeguard}
    refused = quarantined = silently_changed = 0
    for name, path in files.items():
        before = path.read_bytes()
        try:
            if safeguard:
                await asyncio.to_thread(Outbox, path)
            else:
                await asyncio.to_thread(naive_open, path)
        except (StorageError, sqlite3.DatabaseError):
            refused += path.read_bytes() == before
        else:
            silently_changed += path.read_bytes() != before
            figures[f"opened_{name}"] = True
        if safeguard:  # the decision cache on a copy of the same bytes
            cache_path = root / f"cache-{name}.db"
            cache_path.write_bytes(before)
            cache, aside = DecisionCache.open_or_rebuild(cache_path, lambda _d: {}, clock=time.time)
            cache.close()
            quarantined += aside is not None and aside.read_bytes() == before
    opened_bad = sum(1 for key in figures if key.startswith("opened_"))
    return figures | {"outbox_refused_untouched": refused, "cache_quarantined_untouched": quarantined,
                      "silently_changed": silently_changed,
                      "corrupt_db": opened_bad + (len(files) - quarantined if safeguard else 0)}


SCENARIOS = (
    Scenario("storage.concurrent_writers", "4 stores on one edge file write one twin property at once: no lock error "
             "reaches a caller, every write gets its own version",
             lambda d, full, seed: concurrent_writers(d / "edge.db", 4, 10_000 if full else 500),
             {"lost": "lost", "double_applied": "version_collisions", "lock_errors": "locked_errors"}),
    Scenario("storage.concurrent_writers.no_busy_timeout", "negative control: the same writers without waiting for "
             "the lock", lambda d, full, seed: concurrent_writers(d / "edge-nc.db", 4, 500 if full else 200,
                                                                  safeguard=False),
             {}, negative_control=True, loss_figure="locked_errors"),
    Scenario("storage.files_at_start", "garbage, foreign and damaged files: the outbox refuses them untouched, the "
             "decision cache quarantines them untouched and starts empty",
             lambda d, full, seed: files_at_start(d / "files"), {"corrupt_db": "corrupt_db"}),
    Scenario("storage.files_at_start.naive_open", "negative control: the same files opened without checks",
             lambda d, full, seed: files_at_start(d / "files-nc", safeguard=False),
             {}, negative_control=True, loss_figure="silently_changed"),
)
