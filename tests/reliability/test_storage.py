"""Edge storage: concurrent writers on one file, and damaged or foreign files at start, with negative controls."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.storage import concurrent_writers, files_at_start


def test_four_writers_on_one_file_lose_no_version_and_see_no_lock_error(tmp_path: Path) -> None:
    figures = asyncio.run(concurrent_writers(tmp_path / "edge.db", 4, 300))
    assert figures["written"] == 1200 and figures["final_version"] == 1200
    assert figures["locked_errors"] == 0 and figures["version_collisions"] == 0 and figures["other_errors"] == 0


def test_negative_control_without_a_busy_timeout_reports_lock_errors(tmp_path: Path) -> None:
    figures = asyncio.run(concurrent_writers(tmp_path / "edge.db", 4, 200, safeguard=False))
    assert figures["locked_errors"] > 0


def test_bad_files_are_refused_or_quarantined_and_never_changed(tmp_path: Path) -> None:
    figures = asyncio.run(files_at_start(tmp_path / "files"))
    assert figures["outbox_refused_untouched"] == figures["files"] == 3
    assert figures["cache_quarantined_untouched"] == 3
    assert figures["corrupt_db"] == 0 and figures["silently_changed"] == 0


def test_negative_control_a_naive_open_writes_into_another_programs_database(tmp_path: Path) -> None:
    figures = asyncio.run(files_at_start(tmp_path / "files", safeguard=False))
    assert figures["silently_changed"] >= 1 and figures.get("opened_foreign") is True
