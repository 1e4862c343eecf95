"""Twin consistency on the cloud's SQLite store: racing optimistic writes, and shuffled, duplicated, delayed deltas.

Racing writes use two `SqliteStore`s on one file (two connections, two worker threads), so the race is decided by
SQLite's locking, not by one thread's queue. The negative controls switch the safeguard off: writes without an
expected version (every racer "wins", updates are lost), and a last-writer-wins merge (old versions overwrite new).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.reliability.scenario import Scenario
from cloud.fleet import Device
from cloud.sqlite_store import SqliteStore
from cloud.store import MergeResult
from shared.errors import ConflictError
from shared.twin import TwinValue

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
DEVICE = "light.race"


class LastWriterWinsStore(SqliteStore):
    """The negative control's store: reported values are written whatever their version."""

    async def merge_reported(self, device_id: str, values: Mapping[str, TwinValue]) -> MergeResult:
        def _merge() -> MergeResult:
            with self.tx() as conn:
                for prop, incoming in values.items():
                    conn.execute(
                        "INSERT INTO twin (device_id, prop, reported, reported_version, reported_ts) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, prop) DO UPDATE SET "
                        "reported = excluded.reported, reported_version = excluded.reported_version, "
                        "reported_ts = excluded.reported_ts",
                        (device_id, prop, json.dumps(incoming.value), incoming.version, incoming.ts.isoformat()))
            return MergeResult(applied=list(values))
        return await self.call(_merge)


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


def delivery_order(updates: int, *, props: int, seed: int) -> list[tuple[str, int]]:
    """(prop, version) deliveries: versions 1..n per prop, 30% duplicated, shuffled, some held back to the end."""
    rng = random.Random(seed)
    sent = [(f"p{k}", v) for v in range(1, updates // props + 1) for k in range(props)]
    sent += rng.sample(sent, len(sent) * 3 // 10)  # at-least-once: duplicates
    rng.shuffle(sent)
    held = {i for i in range(len(sent)) if rng.random() < 0.05}  # delayed past everything else
    return [s for i, s in enumerate(sent) if i not in held] + [sent[i] for i in sorted(held)]


async def shuffled_deltas(db: Path, updates: int, *, props: int = 4, seed: int = 0,
                          safeguard: bool = True) -> dict[str, Any]:
    """Apply reported deltas in a hostile order; count version regressions and wrong final values."""
    store: SqliteStore = SqliteStore(db) if safeguard else LastWriterWinsStore(db)
    await store.open()
    try:
        await store.upsert_edge("e1", site="home")
        await store.upsert_device(Device(DEVICE, "e1", "home", "light", "Race light"))
        seen: dict[str, int] = {}
        regressions = applied = stale = 0
        order = delivery_order(updates, props=props, seed=seed)
        for prop, version in order:
            value = TwinValue(value=version, version=version, ts=EPOCH + timedelta(seconds=version))
            result = await store.merge_reported(DEVICE, {prop: value})
            applied += len(result.applied)
            stale += len(result.stale)
            twin = await store.twin(DEVICE)
            assert twin is not None
            now = twin.document.properties[prop].reported
            assert now is not None
            if now.version < seen.get(prop, 0):
                regressions += 1
            seen[prop] = now.version
        twin = await store.twin(DEVICE)
    finally:
        await store.close()
    assert twin is not None
    highest = {prop: max(v for p, v in order if p == prop) for prop in {p for p, _ in order}}
    wrong_final = sum(1 for prop, top in highest.items()
                      if (side := twin.document.properties[prop].reported) is None or side.value != top)
    return {"deliveries": len(order), "safeguard": safeguard, "applied": applied, "stale": stale,
            "regressions": regressions, "wrong_final": wrong_final}


SCENARIOS = (
    Scenario("twins.racing_writes", "racing desired writes with one expected version: exactly one wins each race",
             lambda d, full, seed: racing_writes(d / "race.db", 1000 if full else 200),
             {"lost": "lost"}),
    Scenario("twins.racing_writes.no_expected_version", "negative control: the same races without the version check",
             lambda d, full, seed: racing_writes(d / "race-nc.db", 100 if full else 20, safeguard=False),
             {}, negative_control=True),
    Scenario("twins.shuffled_deltas", "shuffled, duplicated and delayed reported deltas: no version regression",
             lambda d, full, seed: shuffled_deltas(d / "deltas.db", 1000 if full else 200, seed=seed),
             {"lost": "wrong_final", "version_regressions": "regressions"}),
    Scenario("twins.shuffled_deltas.last_writer_wins", "negative control: the same deltas merged without versions",
             lambda d, full, seed: shuffled_deltas(d / "deltas-nc.db", 1000 if full else 200, seed=seed,
                                                   safeguard=False),
             {}, negative_control=True, loss_figure="regressions"),
)
