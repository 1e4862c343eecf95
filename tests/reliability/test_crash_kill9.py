"""The edge under kill -9 during QoS 1 updates, with the ack-on-arrival negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.crash_kill9 import NC_UPDATES, kill9


def test_kill9_during_qos1_updates_loses_no_acknowledged_update_and_damages_no_file(tmp_path: Path) -> None:
    figures = asyncio.run(kill9(tmp_path, 300, 3, seed=7))
    assert figures["kills"] == 3 and figures["acknowledged"] == 300 and figures["errors"] == 0
    assert figures["integrity_checks"] >= 3 * 2 and figures["corrupt_db"] == 0
    assert figures["lost"] == 0 and figures["misnumbered"] == 0 and figures["twin_behind"] == 0
    assert figures["crashes"] == 0


def test_negative_control_acknowledging_on_arrival_loses_updates(tmp_path: Path) -> None:
    figures = asyncio.run(kill9(tmp_path, NC_UPDATES, 1, seed=7, safeguard=False, duration=1.0))
    assert figures["acknowledged"] == NC_UPDATES and figures["lost"] > 0 and figures["twin_behind"] > 0
