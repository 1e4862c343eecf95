"""Racing optimistic writes on the cloud's SQLite store: exactly one racer wins each round.

Two `SqliteStore`s on one file (two connections, two worker threads), so the race is decided by SQLite's locking, not
by one thread's queue. The negative control writes without an expected version: every racer "wins", updates are lost.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bench.reliability.scenario import Scenario
from cloud.fleet import Device
from cloud.sqlite_store import SqliteStore
from shared.errors import ConflictError

DEVICE = "light.race"


async def racing_writes(db: Path, races: int, *, racers: int = 2, safeguard: bool = True) -> dict[str, Any]:
    """`races` rounds of `racers` concurrent desired writes with the same expected version, from two stores.

    Exactly one writer must win each round and every other must get a conflict; the final version must equal the
    number of rounds. Without the safeguard (no expected version) every writer wins and updates are lost.
    """
    stores = [SqliteStore(db), SqliteStore(db)]
    for store in stores:
        await store.open()
    try:
        await stores[0].upsert_edge("e1", site="home")
        await stores[0].upsert_device(Device(DEVICE, "e1", "home", "light", "Race light"))
        wins_per_race: list[int] = []
        conflicts = errors = 0
        for race in range(races):
            record = await stores[0].twin(DEVICE)
            expected = record.version if record is not None else 0

            async def write(i: int, expected: int = expected, race: int = race) -> bool:
                version = expected if safeguard else None
                await stores[i % 2].set_desired(DEVICE, {"brightness": race * racers + i}, version)
                return True

            outcomes = await asyncio.gather(*(write(i) for i in range(racers)), return_exceptions=True)
            wins_per_race.append(sum(o is True for o in outcomes))
            conflicts += sum(isinstance(o, ConflictError) for o in outcomes)
            errors += sum(isinstance(o, BaseException) and not isinstance(o, ConflictError) for o in outcomes)
        final = await stores[0].twin(DEVICE)
    finally:
        for store in stores:
            await store.close()
    lost = sum(max(0, w - 1) for w in wins_per_race)  # a second winner overwrote the first without seeing it
    return {"races": races, "racers": racers, "safeguard": safeguard, "one_winner": wins_per_race.count(1),
            "no_winner": wins_per_race.count(0), "lost": lost, "conflicts": conflicts, "errors": errors,
            "final_version": None if final is None else final.version}


SCENARIOS = (
    Scenario("twins.racing_writes", "racing desired writes with one expected version: exactly one wins each race",
             lambda d, full, seed: racing_writes(d / "race.db", 1000 if full else 200),
             {"lost": "lost"}),
    Scenario("twins.racing_writes.no_expected_version", "negative control: the same races without the version check",
             lambda d, full, seed: racing_writes(d / "race-nc.db", 100 if full else 20, safeguard=False),
             {}, negative_control=True),
)
