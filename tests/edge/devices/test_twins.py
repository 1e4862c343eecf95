"""Twins on a real store: a report the store refuses (a full disk) still counts for the running edge."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.devices.twins import Twins
from edge.io.store import EdgeStore
from shared.decision import Outcome
from shared.errors import StorageError
from tests.edge.io.test_store import fill_to_limit


async def test_a_report_the_full_store_refuses_is_kept_in_memory_and_confirms_a_command(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "edge.db")
    await store.open()
    twins = Twins(store)
    assert await twins.report("light.k", {"state": "OFF"}) == {"state": 1}
    await store._call(lambda: fill_to_limit(store.db.conn))
    waiting = twins.expect("light.k", {"state": ["ON"], "effect": ["x" * 9000]})
    with pytest.raises(StorageError, match="is full"):  # a new row of 9 kB: no room for it
        await twins.report("light.k", {"state": "ON", "effect": "x" * 9000})
    assert waiting.done() and waiting.result() == (Outcome.DONE, None)
    assert twins.values("light.k")["state"] == "ON"
    assert {r.prop: r.reported for r in await store.twin("light.k")} == {"state": "OFF"}  # nothing half-written
    await store.close()
