"""Commands through a broker that is stopped and killed, with the no-retry negative control."""

from __future__ import annotations

from pathlib import Path

from bench.reliability.broker_restarts import restarts


async def test_commands_survive_a_broker_stop_and_a_kill_none_lost_none_twice(tmp_path: Path) -> None:
    figures = await restarts(tmp_path, 60, 1, 1, lights=6)
    assert figures["confirmed"] == 60 and figures["errors"] == 0
    assert figures["lost"] == 0 and figures["double_applied"] == 0


async def test_negative_control_a_sender_without_retries_loses_commands(tmp_path: Path) -> None:
    figures = await restarts(tmp_path, 60, 1, 1, lights=6, retry=False)
    assert figures["lost"] > 0
