"""Shuffled, duplicated and delayed reported deltas on the cloud's SQLite store: no version regression.

The negative control merges with a last-writer-wins store: old versions overwrite new ones.
"""

from __future__ import annotations

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
    Scenario("twins.shuffled_deltas", "shuffled, duplicated and delayed reported deltas: no version regression",
             lambda d, full, seed: shuffled_deltas(d / "deltas.db", 1000 if full else 200, seed=seed),
             {"lost": "wrong_final", "version_regressions": "regressions"}),
    Scenario("twins.shuffled_deltas.last_writer_wins", "negative control: the same deltas merged without versions",
             lambda d, full, seed: shuffled_deltas(d / "deltas-nc.db", 1000 if full else 200, seed=seed,
                                                   safeguard=False),
             {}, negative_control=True, loss_figure="regressions"),
)
