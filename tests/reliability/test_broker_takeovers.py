"""Forced session take-overs of the edge's client ids, with the subscribe-once negative control."""

from __future__ import annotations

from pathlib import Path

from bench.reliability.broker_takeovers import takeovers


async def test_subscriptions_come_back_after_every_take_over(tmp_path: Path) -> None:
    figures = await takeovers(tmp_path, 4)
    assert figures["kicked"] == 4 and figures["handled"] == 4 and figures["failures"] == 0


async def test_negative_control_a_bus_that_subscribes_once_misses_commands_after_a_take_over(tmp_path: Path) -> None:
    figures = await takeovers(tmp_path, 1, safeguard=False)
    assert figures["failures"] > 0
