"""Concurrent writers on one edge file, with the no-busy-timeout negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.storage_concurrent_writers import concurrent_writers


def test_four_writers_on_one_file_lose_no_version_and_see_no_lock_error(tmp_path: Path) -> None:
    figures = asyncio.run(concurrent_writers(tmp_path / "edge.db", 4, 300))
    assert figures["written"] == 1200 and figures["final_version"] == 1200
    assert figures["locked_errors"] == 0 and figures["version_collisions"] == 0 and figures["other_errors"] == 0


def test_negative_control_without_a_busy_timeout_reports_lock_errors(tmp_path: Path) -> None:
    figures = asyncio.run(concurrent_writers(tmp_path / "edge.db", 4, 200, safeguard=False))
    assert figures["locked_errors"] > 0
