"""DecisionCache on real SQLite files: keys, TTLs, LRU, invalidation, persistence and corrupt rows."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bench.reliability.storage_files_at_start import damage_pages
from edge.config import CacheSettings
from edge.io.decision_cache import TABLE, TOUCH_EVERY_S, DecisionCache, fingerprint
from edge.ports import CachedDecision, Versions
from shared.decision import DecisionSource
from shared.errors import StorageError

V1 = Versions(template="hassil-3", model="intent-1", planner="plan-1", registry="reg-a")
TURN_ON = CachedDecision("HassTurnOn", {"name": "Kitchen Light"}, DecisionSource.TEMPLATE,
                         spoken={"name": "kitchen light"})
PLAN = CachedDecision("plan", {}, DecisionSource.CLOUD, plan={"steps": [{"device": "lamp", "command": "on"}]})


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def twins() -> dict[str, dict[str, Any]]:
    return {"lamp": {"state": "OFF", "brightness": 10, "linkquality": 80}, "plug": {"state": "ON"}}


@pytest.fixture
def clock() -> Clock:
    return Clock()


def open_cache(path: Path, twins: dict[str, dict[str, Any]], clock: Clock, **settings: Any) -> DecisionCache:
    return DecisionCache(path, lambda d: twins.get(d, {}), CacheSettings(**settings), clock=clock)


@pytest.fixture
def cache(tmp_path: Path, twins: dict[str, dict[str, Any]], clock: Clock) -> DecisionCache:
    return open_cache(tmp_path / "edge.db", twins, clock)


def test_hit_after_put_with_folded_text(cache: DecisionCache) -> None:
    assert cache.get("turn on the kitchen light", "en", V1) is None
    cache.put("turn on the kitchen light", "en", V1, ["lamp"], TURN_ON)
    assert cache.get("Turn on  the KITCHEN light", "en", V1) == TURN_ON
    assert (cache.hits, cache.misses) == (1, 1)


def test_cloud_plan_round_trips(cache: DecisionCache) -> None:
    cache.put("movie mode", "en", V1, ["lamp", "plug"], PLAN)
    hit = cache.get("movie mode", "en", V1)
    assert hit == PLAN and hit is not None and hit.source is DecisionSource.CLOUD


def test_state_change_misses_and_state_back_hits(cache: DecisionCache, twins: dict[str, dict[str, Any]]) -> None:
    cache.put("toggle the lamp", "en", V1, ["lamp"], TURN_ON)
    twins["lamp"]["state"] = "ON"
    assert cache.get("toggle the lamp", "en", V1) is None
    twins["lamp"]["state"] = "OFF"
    assert cache.get("toggle the lamp", "en", V1) == TURN_ON


def test_unrelated_device_and_volatile_props_do_not_change_the_key(cache: DecisionCache,
                                                                    twins: dict[str, dict[str, Any]]) -> None:
    cache.put("turn on the lamp", "en", V1, ["lamp"], TURN_ON)
    twins["plug"]["state"] = "OFF"
    twins["lamp"]["linkquality"] = 12
    assert cache.get("turn on the lamp", "en", V1) == TURN_ON


def test_language_and_each_version_are_part_of_the_key(cache: DecisionCache) -> None:
    cache.put("turn on the lamp", "en", V1, ["lamp"], TURN_ON)
    assert cache.get("turn on the lamp", "zh-cn", V1) is None
    for other in (Versions("hassil-4", "intent-1", "plan-1", "reg-a"), Versions("hassil-3", "intent-2", "plan-1",
                  "reg-a"), Versions("hassil-3", "intent-1", "plan-2", "reg-a"),
                  Versions("hassil-3", "intent-1", "plan-1", "reg-b")):
        assert cache.get("turn on the lamp", "en", other) is None
    assert cache.get("turn on the lamp", "en", V1) == TURN_ON


def test_ttl_local_and_cloud(cache: DecisionCache, clock: Clock) -> None:
    cache.put("turn on the lamp", "en", V1, ["lamp"], TURN_ON)
    cache.put("movie mode", "en", V1, ["lamp"], PLAN)
    clock.now += 24 * 3600 - 1
    assert cache.get("turn on the lamp", "en", V1) == TURN_ON
    clock.now += 1
    assert cache.get("turn on the lamp", "en", V1) is None
    assert cache.expired == 1 and len(cache) == 1  # the expired row is gone, not only skipped
    clock.now += 6 * 24 * 3600 - 1
    assert cache.get("movie mode", "en", V1) == PLAN
    clock.now += 1
    assert cache.get("movie mode", "en", V1) is None


def test_lru_eviction_keeps_the_recently_used(tmp_path: Path, twins: dict[str, dict[str, Any]],
                                              clock: Clock) -> None:
    cache = open_cache(tmp_path / "edge.db", twins, clock, max_entries=3)
    for text in ("a", "b", "c"):
        cache.put(text, "en", V1, ["lamp"], TURN_ON)
        clock.now += TOUCH_EVERY_S  # the LRU order is kept to the minute
    assert cache.get("a", "en", V1) is not None  # "a" is now the most recently used
    clock.now += TOUCH_EVERY_S
    cache.put("d", "en", V1, ["lamp"], TURN_ON)
    assert len(cache) == 3 and cache.evictions == 1
    assert cache.get("b", "en", V1) is None
    assert all(cache.get(t, "en", V1) is not None for t in ("a", "c", "d"))


def test_invalidate_all_and_versions(cache: DecisionCache) -> None:
    v2 = Versions("hassil-3", "intent-2", "plan-1", "reg-a")
    cache.put("a", "en", V1, ["lamp"], TURN_ON)
    cache.put("b", "en", v2, ["lamp"], TURN_ON)
    assert cache.invalidate_versions(v2) == 1
    assert cache.get("a", "en", V1) is None and cache.get("b", "en", v2) is not None
    assert cache.invalidate_all() == 1
    assert len(cache) == 0 and cache.get("b", "en", v2) is None


def test_survives_reopening_the_file(tmp_path: Path, twins: dict[str, dict[str, Any]], clock: Clock) -> None:
    path = tmp_path / "edge.db"
    cache = open_cache(path, twins, clock)
    cache.put("打开厨房的灯", "zh-cn", V1, ["lamp"], TURN_ON)
    cache.close()
    reopened = open_cache(path, twins, clock)
    assert reopened.get("打开厨房的灯", "zh-cn", V1) == TURN_ON
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


@pytest.mark.parametrize("column,bad", [("value", "{not json"), ("value", '{"intent": 3}'),
                                        ("device_ids", "lamp"), ("expires", "soon")])
def test_corrupt_row_is_a_miss_and_removed(cache: DecisionCache, tmp_path: Path, column: str, bad: str) -> None:
    cache.put("turn on the lamp", "en", V1, ["lamp"], TURN_ON)
    conn = sqlite3.connect(tmp_path / "edge.db")
    with conn:
        conn.execute(f"UPDATE {TABLE} SET {column} = ?", [bad])
    conn.close()
    assert cache.get("turn on the lamp", "en", V1) is None
    assert (cache.corrupt, cache.misses, len(cache)) == (1, 1, 0)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path, twins: dict[str, dict[str, Any]],
                                                  clock: Clock) -> None:
    path = tmp_path / "edge.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="cannot open the decision cache"):
        open_cache(path, twins, clock)


def test_stages_that_did_not_decide_are_not_cached(cache: DecisionCache) -> None:
    with pytest.raises(ValueError, match="only template, model and cloud"):
        cache.put("x", "en", V1, [], CachedDecision("HassTurnOn", {}, DecisionSource.DEGRADED))


def test_fingerprint_is_order_free_and_value_sensitive() -> None:
    values = {"a": {"state": "ON"}, "b": {"state": "OFF"}}
    first = fingerprint(["a", "b"], values.__getitem__)
    assert first == fingerprint(["b", "a", "a"], values.__getitem__) and len(first) == 16
    values["b"]["state"] = "ON"
    assert first != fingerprint(["a", "b"], values.__getitem__)


async def test_usable_from_worker_threads(cache: DecisionCache) -> None:
    await asyncio.gather(*(asyncio.to_thread(cache.put, f"t{i}", "en", V1, ["lamp"], TURN_ON) for i in range(20)))
    hits = await asyncio.gather(*(asyncio.to_thread(cache.get, f"t{i}", "en", V1) for i in range(20)))
    assert hits == [TURN_ON] * 20 and cache.errors == 0


def open_or_rebuild(path: Path, twins: dict[str, dict[str, Any]], clock: Clock) -> tuple[DecisionCache, Path | None]:
    return DecisionCache.open_or_rebuild(path, lambda d: twins.get(d, {}), CacheSettings(), clock=clock)


def test_a_healthy_cache_file_is_opened_as_it_is(tmp_path: Path, twins: dict[str, dict[str, Any]],
                                                 clock: Clock) -> None:
    first, aside = open_or_rebuild(tmp_path / "decisions.db", twins, clock)
    first.put("turn on the kitchen light", "en", V1, ["lamp"], TURN_ON)
    first.close()
    again, aside = open_or_rebuild(tmp_path / "decisions.db", twins, clock)
    assert aside is None and again.get("turn on the kitchen light", "en", V1) == TURN_ON


def test_a_garbage_file_is_quarantined_unchanged_and_a_new_cache_serves(tmp_path: Path,
                                                                        twins: dict[str, dict[str, Any]],
                                                                        clock: Clock) -> None:
    path = tmp_path / "decisions.db"
    path.write_bytes(b"not a database" * 500)
    cache, aside = open_or_rebuild(path, twins, clock)
    assert aside is not None and aside.read_bytes() == b"not a database" * 500
    assert aside.name.startswith("decisions.db.corrupt-")
    cache.put("turn on the kitchen light", "en", V1, ["lamp"], TURN_ON)
    assert cache.get("turn on the kitchen light", "en", V1) == TURN_ON


def test_damaged_pages_behind_a_valid_header_are_caught_and_quarantined(tmp_path: Path,
                                                                         twins: dict[str, dict[str, Any]],
                                                                         clock: Clock) -> None:
    path = tmp_path / "decisions.db"
    cache, _ = open_or_rebuild(path, twins, clock)
    for i in range(300):
        cache.put(f"turn on light number {i} " + "x" * 200, "en", V1, ["lamp"], TURN_ON)
    cache.close()
    damage_pages(path)
    rebuilt, aside = open_or_rebuild(path, twins, clock)
    assert aside is not None and aside.exists()
    assert rebuilt.get("turn on light number 1 " + "x" * 200, "en", V1) is None  # a fresh, empty cache


def test_another_programs_database_is_moved_aside_not_written(tmp_path: Path, twins: dict[str, dict[str, Any]],
                                                              clock: Clock) -> None:
    path = tmp_path / "decisions.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE devices (device_id TEXT)")
    other.commit()
    other.close()
    before = path.read_bytes()
    _, aside = open_or_rebuild(path, twins, clock)
    assert aside is not None and aside.read_bytes() == before
