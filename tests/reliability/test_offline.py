"""The edge offline and back (reduced counts): kill -9 during the outbox drain, with its negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.offline import crash_during_drain, overflowing_outage


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
