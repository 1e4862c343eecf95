"""Desired deltas raced by stale full re-syncs across edge restarts, with the version-blind negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.twins_reconnect_races import reconnect_races


def test_stale_full_resyncs_never_reach_a_device_after_a_newer_delta_even_across_restarts(tmp_path: Path) -> None:
    figures = asyncio.run(reconnect_races(tmp_path, steps=120, seed=4))
    assert figures["restarts"] > 0 and figures["stale_fulls"] > 0
    assert figures["stale_applies"] == 0 and figures["wrong_final"] == 0
    assert figures["refused_superseded"] == figures["stale_fulls"]  # each refused with a reason


def test_negative_control_a_version_blind_edge_applies_stale_values(tmp_path: Path) -> None:
    figures = asyncio.run(reconnect_races(tmp_path, steps=40, seed=4, safeguard=False))
    assert figures["stale_applies"] > 0
