"""Edge storage under concurrent writers: every write gets its own version, no "database is locked" reaches a caller.

Several `EdgeStore`s (own connections, own worker threads) on one file bump the same twin property; every write
changes the value, so every write must get its own version, none may be lost, and no "database is locked" may reach
a caller. The negative control gives the connections no busy timeout.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bench.reliability.scenario import Scenario
from edge.io.store import EdgeStore
from edge.ports import StoredDevice
from shared.errors import StorageError

DEVICE = StoredDevice("light.shared", "light", {}, "homeassistant/light/shared/config", True)


async def concurrent_writers(db: Path, writers: int, ops: int, *, safeguard: bool = True) -> dict[str, Any]:
    """`writers` stores on one file, `ops` reported-state writes each to one property, all at once."""
    # the negative control's stores give up at once when another writer holds the lock
    stores = [EdgeStore(db, busy_timeout_s=30.0 if safeguard else 0.0) for _ in range(writers)]
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


SCENARIOS = (
    Scenario("storage.concurrent_writers", "4 stores on one edge file write one twin property at once: no lock error "
             "reaches a caller, every write gets its own version",
             lambda d, full, seed: concurrent_writers(d / "edge.db", 4, 10_000 if full else 500),
             {"lost": "lost", "double_applied": "version_collisions", "lock_errors": "locked_errors"}),
    Scenario("storage.concurrent_writers.no_busy_timeout", "negative control: the same writers without waiting for "
             "the lock", lambda d, full, seed: concurrent_writers(d / "edge-nc.db", 4, 500 if full else 200,
                                                                  safeguard=False),
             {}, negative_control=True, loss_figure="locked_errors"),
)
