"""An outage that overflows the outbox bound (reduced counts), with the silent-drops negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.offline_overflowing_outage import overflowing_outage


def test_an_overflowing_outage_drops_visibly_and_the_cloud_is_told(tmp_path: Path) -> None:
    figures = asyncio.run(overflowing_outage(tmp_path, reports=300, outbox_max=100))
    assert figures["dropped_at_edge"] == 200 and figures["dropped_metric"] == 200
    assert figures["missing_in_cloud"] >= 200 and figures["overflow_reports"] >= 1
    assert figures["unaccounted"] == 0 and figures["over_reported"] <= 2


def test_negative_control_silent_drops_leave_the_cloud_unaware(tmp_path: Path) -> None:
    figures = asyncio.run(overflowing_outage(tmp_path, reports=300, outbox_max=100, safeguard=False))
    assert figures["overflow_reports"] == 0 and figures["unaccounted"] >= 200
