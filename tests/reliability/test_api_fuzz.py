"""schemathesis over the cloud API (reduced counts), with the no-error-handlers negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.api_fuzz import fuzz
from bench.reliability.api_matrix import MATRIX


def test_fuzzing_every_operation_finds_no_5xx_and_no_answer_outside_the_document(tmp_path: Path) -> None:
    figures = asyncio.run(fuzz(tmp_path / "fuzz.db", 80, 1))
    assert figures["operations"] == len(MATRIX) and figures["cases"] == 80
    assert figures["api_5xx"] == 0 and figures["unhandled"] == 0, figures["examples"]
    assert figures["schema_violations"] == 0 and figures["undocumented_statuses"] == 0, figures["examples"]
    statuses = {int(s) for s in figures["statuses"]}
    assert any(s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)  # it got past validation


def test_negative_control_fuzzing_without_error_handlers_sees_5xx(tmp_path: Path) -> None:
    figures = asyncio.run(fuzz(tmp_path / "fuzz.db", 20, 1, error_handlers=False))
    assert figures["api_5xx"] > 0 and figures["unhandled"] > 0
