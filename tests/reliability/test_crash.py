"""Edge storage under kill -9 and a full disk, each with its negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.crash import NC_UPDATES, disk_full, kill9


def test_kill9_during_qos1_updates_loses_no_acknowledged_update_and_damages_no_file(tmp_path: Path) -> None:
    figures = asyncio.run(kill9(tmp_path, 300, 3, seed=7))
    assert figures["kills"] == 3 and figures["acknowledged"] == 300 and figures["errors"] == 0
    assert figures["integrity_checks"] >= 3 * 2 and figures["corrupt_db"] == 0
    assert figures["lost"] == 0 and figures["misnumbered"] == 0 and figures["twin_behind"] == 0
    assert figures["crashes"] == 0


def test_negative_control_acknowledging_on_arrival_loses_updates(tmp_path: Path) -> None:
    figures = asyncio.run(kill9(tmp_path, NC_UPDATES, 1, seed=7, safeguard=False, duration=1.0))
    assert figures["acknowledged"] == NC_UPDATES and figures["lost"] > 0 and figures["twin_behind"] > 0


def test_a_full_disk_leaves_local_commands_working_with_clear_counted_errors(tmp_path: Path) -> None:
    figures = asyncio.run(disk_full(tmp_path, 8))
    assert figures["served"] == 8 and figures["failed_commands"] == 0 and figures["crashes"] == 0
    assert figures["storage_errors_counted"] > 0
    assert figures["full_errors_naming_file"] == figures["full_errors_logged"] > 0
    assert figures["stored_after_room"] is True and figures["errors"] == 0


def test_negative_control_letting_a_refused_write_fail_the_request(tmp_path: Path) -> None:
    figures = asyncio.run(disk_full(tmp_path, 6, safeguard=False))
    assert figures["failed_commands"] > 0 and figures["crashes"] > 0
