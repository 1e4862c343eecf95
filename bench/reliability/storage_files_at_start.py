"""Damaged or foreign files at start: the outbox refuses them untouched, the decision cache quarantines them untouched.

Garbage, another program's database, and damaged pages behind a valid header, given to the outbox (must refuse, file
untouched) and to the decision cache (must quarantine the file untouched and start empty). The negative control opens
the same files the naive way (create the table if missing) and counts silent changes.
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
from shared.errors import StorageError


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
    Scenario("storage.files_at_start", "garbage, foreign and damaged files: the outbox refuses them untouched, the "
             "decision cache quarantines them untouched and starts empty",
             lambda d, full, seed: files_at_start(d / "files"), {"corrupt_db": "corrupt_db"}),
    Scenario("storage.files_at_start.naive_open", "negative control: the same files opened without checks",
             lambda d, full, seed: files_at_start(d / "files-nc", safeguard=False),
             {}, negative_control=True, loss_figure="silently_changed"),
)
