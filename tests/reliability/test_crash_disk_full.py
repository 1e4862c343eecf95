"""The edge with every database full, with the store-first negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.crash_disk_full import disk_full


def test_a_full_disk_leaves_local_commands_working_with_clear_counted_errors(tmp_path: Path) -> None:
    figures = asyncio.run(disk_full(tmp_path, 8))
    assert figures["served"] == 8 and figures["failed_commands"] == 0 and figures["crashes"] == 0
    assert figures["storage_errors_counted"] > 0
    assert figures["full_errors_naming_file"] == figures["full_errors_logged"] > 0
    assert figures["stored_after_room"] is True and figures["errors"] == 0


def test_negative_control_letting_a_refused_write_fail_the_request(tmp_path: Path) -> None:
    figures = asyncio.run(disk_full(tmp_path, 6, safeguard=False))
    assert figures["failed_commands"] > 0 and figures["crashes"] > 0
