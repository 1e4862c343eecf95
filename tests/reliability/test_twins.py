"""Twin consistency under racing writes and hostile delta orders (reduced counts), with negative controls."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.twins import delivery_order, racing_writes, shuffled_deltas


def test_exactly_one_racer_wins_each_race_and_the_others_get_a_conflict(tmp_path: Path) -> None:
    figures = asyncio.run(racing_writes(tmp_path / "race.db", 100, racers=3))
    assert figures["one_winner"] == 100 and figures["lost"] == 0 and figures["errors"] == 0
    assert figures["conflicts"] == 200  # two losers a race
    assert figures["final_version"] == 100


def test_negative_control_without_the_expected_version_loses_updates(tmp_path: Path) -> None:
    figures = asyncio.run(racing_writes(tmp_path / "race.db", 20, safeguard=False))
    assert figures["lost"] == 20 and figures["conflicts"] == 0
    assert figures["final_version"] == 40  # every write went through, each unaware of its rival


def test_shuffled_duplicated_delayed_deltas_never_regress_and_end_on_the_highest_version(tmp_path: Path) -> None:
    figures = asyncio.run(shuffled_deltas(tmp_path / "deltas.db", 200, seed=3))
    assert figures["regressions"] == 0 and figures["wrong_final"] == 0
    assert figures["applied"] + figures["stale"] == figures["deliveries"]
    assert figures["stale"] > 0  # the order really was hostile


def test_negative_control_last_writer_wins_regresses(tmp_path: Path) -> None:
    figures = asyncio.run(shuffled_deltas(tmp_path / "deltas.db", 200, seed=3, safeguard=False))
    assert figures["regressions"] > 0


def test_delivery_order_duplicates_and_reorders_every_version() -> None:
    order = delivery_order(100, props=4, seed=1)
    assert {(p, v) for p, v in order} == {(f"p{k}", v) for k in range(4) for v in range(1, 26)}
    assert len(order) == 130  # 30 % duplicates
    assert order != sorted(order, key=lambda item: item[1])
