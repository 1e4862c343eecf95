"""EdgeStore on real SQLite files: versions, persistence, refusal of foreign files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.io.store import EdgeStore
from edge.ports import StoredDevice
from shared.decision import Decision, Outcome
from shared.errors import StorageError


async def open_store(path: Path) -> EdgeStore:
    store = EdgeStore(path)
    await store.open()
    return store


async def test_reported_versions_increase_only_on_change(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "edge.db")
    assert await store.apply_reported("d", {"state": "ON", "brightness": 10}) == {"state": 1, "brightness": 1}
    assert await store.apply_reported("d", {"state": "ON", "brightness": 20}) == {"brightness": 2}
    assert await store.apply_reported("d", {"state": "ON"}) == {}
    assert await store.apply_desired("d", {"state": "OFF"}) == {"state": 1}
    rows = {r.prop: r for r in await store.twin("d")}
    assert (rows["brightness"].reported, rows["brightness"].reported_version) == (20, 2)
    assert (rows["state"].reported, rows["state"].desired, rows["state"].desired_version) == ("ON", "OFF", 1)
    await store.close()


async def test_everything_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    store = await open_store(path)
    await store.upsert_device(StoredDevice("d", "light", {"unique_id": "d"}, "homeassistant/light/d/config", True))
    await store.apply_reported("d", {"state": "ON"})
    decision = Decision(utterance_id="u", trace_id="t", edge_id="e", text="hi", language="en",
                        outcome=Outcome.DONE, reply="ok", latency_ms=1.0)
    await store.add_decision(decision)
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store = await open_store(path)
    assert [d.device_id for d in await store.devices()] == ["d"]
    assert (await store.twin("d"))[0].reported == "ON"
    assert [d.id for d in await store.decisions(trace_id="t")] == [decision.id]
    await store.remove_device("d")
    assert await store.devices() == [] and await store.twin("d") == []
    await store.close()


async def test_foreign_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    path.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(StorageError, match="move the file away"):
        await open_store(path)
    assert path.read_bytes() == b"\x00garbage" * 512


def fill_to_limit(conn: sqlite3.Connection) -> None:
    """What a full disk does to SQLite: no page beyond the current ones, those packed."""
    conn.execute("CREATE TABLE junk (x BLOB)")
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0] + 2}")
    for size in (4000, 400, 40, 4):
        with pytest.raises(sqlite3.OperationalError, match="full"):
            while True:
                conn.execute("INSERT INTO junk VALUES (zeroblob(?))", (size,))


async def test_a_full_database_is_named_in_the_error_and_nothing_is_written(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "edge.db")
    await store._call(lambda: fill_to_limit(store.db.conn))
    decision = Decision(utterance_id="u", trace_id="t", edge_id="e", text="x" * 5000, language="en",
                        outcome=Outcome.DONE, reply="ok", latency_ms=1.0)
    with pytest.raises(StorageError, match=r"edge database .*edge\.db is full") as caught:
        await store.add_decision(decision)
    assert "free disk space" in str(caught.value)
    assert await store.decisions() == []
    await store.close()
