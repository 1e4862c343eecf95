"""Damaged or foreign files at start, with the naive-open negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.storage_files_at_start import files_at_start


def test_bad_files_are_refused_or_quarantined_and_never_changed(tmp_path: Path) -> None:
    figures = asyncio.run(files_at_start(tmp_path / "files"))
    assert figures["outbox_refused_untouched"] == figures["files"] == 3
    assert figures["cache_quarantined_untouched"] == 3
    assert figures["corrupt_db"] == 0 and figures["silently_changed"] == 0


def test_negative_control_a_naive_open_writes_into_another_programs_database(tmp_path: Path) -> None:
    figures = asyncio.run(files_at_start(tmp_path / "files", safeguard=False))
    assert figures["silently_changed"] >= 1 and figures.get("opened_foreign") is True
