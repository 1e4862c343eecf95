"""Broker faults and session take-overs against a real Mosquitto, edge and cloud twin sync, with negative controls."""

from __future__ import annotations

from pathlib import Path

from bench.reliability.broker import outage, restarts, takeovers


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
    figures = await takeovers(tmp_path, 1, safeguard=False)
    assert figures["failures"] > 0


async def test_an_uplink_and_a_local_outage_lose_nothing_uncounted_and_memory_stays_flat(tmp_path: Path) -> None:
    figures = await outage(tmp_path, 2.0, around_s=0.75)
    assert figures["errors"] == 0 and figures["rss_samples"] >= 10
    assert figures["produced"] > 60 and figures["evicted_counted"] > 0  # the bound was hit, and said so
    assert figures["delivered"] + figures["evicted_counted"] >= figures["produced"] and figures["lost"] == 0
    assert figures["rss_growth_mb"] < 50
    assert figures["uplink_resume_s"] is not None and figures["local_resume_s"] is not None


async def test_negative_control_an_edge_without_outbox_loses_what_it_reports_during_an_uplink_outage(
        tmp_path: Path) -> None:
    figures = await outage(tmp_path, 2.0, phases=("uplink",), outbox=False, around_s=0.75)
    assert figures["errors"] == 0 and figures["evicted_counted"] == 0
    assert figures["lost"] > 0
