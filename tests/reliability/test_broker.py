"""Broker faults and session take-overs against a real Mosquitto, edge and cloud twin sync, with negative controls."""

from __future__ import annotations

from pathlib import Path

from bench.reliability.broker import restarts, takeovers


async def test_commands_survive_a_broker_stop_and_a_kill_none_lost_none_twice(tmp_path: Path) -> None:
    figures = await restarts(tmp_path, 60, 1, 1, lights=6)
    assert figures["confirmed"] == 60 and figures["errors"] == 0
    assert figures["lost"] == 0 and figures["double_applied"] == 0


async def test_negative_control_a_sender_without_retries_loses_commands(tmp_path: Path) -> None:
    figures = await restarts(tmp_path, 60, 1, 1, lights=6, retry=False)
    assert figures["lost"] > 0


async def test_subscriptions_come_back_after_every_take_over(tmp_path: Path) -> None:
    figures = await takeovers(tmp_path, 4)
    assert figures["kicked"] == 4 and figures["handled"] == 4 and figures["failures"] == 0


async def test_negative_control_a_bus_that_subscribes_once_misses_commands_after_a_take_over(tmp_path: Path) -> None:
    figures = await takeovers(tmp_path, 2, safeguard=False)
    assert figures["failures"] > 0
