"""Shuffled, duplicated and delayed reported deltas, with the last-writer-wins negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.twins_shuffled_deltas import delivery_order, shuffled_deltas


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
