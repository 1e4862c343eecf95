"""Hostile MQTT payloads against the real edge daemon's handler (reduced count), with a negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.payloads import generate, malformed_payloads


def test_no_hostile_payload_escapes_the_handler_and_bad_ones_are_counted(tmp_path: Path) -> None:
    figures = asyncio.run(malformed_payloads(tmp_path / "edge", 600, seed=1))
    assert figures["crashes"] == 0, figures["crash_types"]
    assert figures["rejected"] + figures["accepted"] == figures["payloads"] == 600
    assert figures["rejected"] > figures["payloads"] // 2  # most of them are bad, and each of those was counted
    assert figures["topics"] > 40  # discovery, state, availability, error and twin topics of the simulated home


def test_negative_control_without_the_error_boundary_lets_errors_escape(tmp_path: Path) -> None:
    figures = asyncio.run(malformed_payloads(tmp_path / "edge", 200, seed=1, safeguard=False))
    assert figures["crashes"] > 0


def test_generation_is_reproducible_and_varied() -> None:
    first, again = generate(200, 5), generate(200, 5)
    assert first == again
    assert len(set(first)) > 100
    assert any(len(p) > 65_536 for p in first) and any(b"\xff" in p for p in first)
