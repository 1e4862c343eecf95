"""The edge offline and back (reduced counts): kill -9 during the drain, overflow, reconnect races, stale commands."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.offline import crash_during_drain, overflowing_outage, reconnect_races, stale_commands


def test_kill_during_drain_loses_nothing_and_the_cloud_applies_each_message_once(tmp_path: Path) -> None:
    figures = asyncio.run(crash_during_drain(tmp_path, kills=3, reports=60, utterances=90, seed=1))
    assert figures["kills_mid_drain"] == 3 and figures["restarts"] == 3
    assert figures["queued_decisions"] == 90 and figures["backlog"] >= 150
    assert figures["lost"] == 0 and figures["double_applied"] == 0 and figures["errors"] == 0


def test_negative_control_without_dedup_applies_resent_messages_twice(tmp_path: Path) -> None:
    figures = asyncio.run(crash_during_drain(tmp_path, kills=12, reports=30, utterances=120, seed=2, dedup=False))
    assert figures["redelivered"] > 0 and figures["double_applied"] > 0


def test_an_overflowing_outage_drops_visibly_and_the_cloud_is_told(tmp_path: Path) -> None:
    figures = asyncio.run(overflowing_outage(tmp_path, reports=300, outbox_max=100))
    assert figures["dropped_at_edge"] == 200 and figures["dropped_metric"] == 200
    assert figures["missing_in_cloud"] >= 200 and figures["overflow_reports"] >= 1
    assert figures["unaccounted"] == 0 and figures["over_reported"] <= 2


def test_negative_control_silent_drops_leave_the_cloud_unaware(tmp_path: Path) -> None:
    figures = asyncio.run(overflowing_outage(tmp_path, reports=300, outbox_max=100, safeguard=False))
    assert figures["overflow_reports"] == 0 and figures["unaccounted"] >= 200


def test_stale_full_resyncs_never_reach_a_device_after_a_newer_delta_even_across_restarts(tmp_path: Path) -> None:
    figures = asyncio.run(reconnect_races(tmp_path, steps=120, seed=4))
    assert figures["restarts"] > 0 and figures["stale_fulls"] > 0
    assert figures["stale_applies"] == 0 and figures["wrong_final"] == 0
    assert figures["refused_superseded"] == figures["stale_fulls"]  # each refused with a reason


def test_negative_control_a_version_blind_edge_applies_stale_values(tmp_path: Path) -> None:
    figures = asyncio.run(reconnect_races(tmp_path, steps=40, seed=4, safeguard=False))
    assert figures["stale_applies"] > 0


def test_expired_commands_are_refused_with_a_reason_and_fresh_ones_run(tmp_path: Path) -> None:
    figures = asyncio.run(stale_commands(tmp_path, commands=40, seed=5))
    assert figures["refused_expired"] == 20 and figures["refused_without_reason"] == 0
    assert figures["executed_stale"] == 0 and figures["stale_at_devices"] == 0
    assert figures["fresh_done"] == 20


def test_negative_control_an_expiry_blind_edge_runs_stale_commands(tmp_path: Path) -> None:
    figures = asyncio.run(stale_commands(tmp_path, commands=20, seed=5, safeguard=False))
    assert figures["executed_stale"] == 10 and figures["stale_at_devices"] == 10
