"""The edge killed -9 while its outbox drains (reduced counts), with the no-dedup negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.offline_crash_during_drain import crash_during_drain


def test_kill_during_drain_loses_nothing_and_the_cloud_applies_each_message_once(tmp_path: Path) -> None:
    figures = asyncio.run(crash_during_drain(tmp_path, kills=3, reports=60, utterances=90, seed=1))
    assert figures["kills_mid_drain"] == 3 and figures["restarts"] == 3
    assert figures["queued_decisions"] == 90 and figures["backlog"] >= 150
    assert figures["lost"] == 0 and figures["double_applied"] == 0 and figures["errors"] == 0


def test_negative_control_without_dedup_applies_resent_messages_twice(tmp_path: Path) -> None:
    figures = asyncio.run(crash_during_drain(tmp_path, kills=12, reports=30, utterances=120, seed=2, dedup=False))
    assert figures["redelivered"] > 0 and figures["double_applied"] > 0
