"""Hostile utterances through the real edge daemon (reduced count), with the negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.utterances import generate, malformed_utterances


def test_no_hostile_utterance_crashes_each_is_answered_or_rejected_and_garbage_touches_nothing(
        tmp_path: Path) -> None:
    figures = asyncio.run(malformed_utterances(tmp_path / "edge", 250, seed=2))
    assert figures["crashes"] == 0, figures["crash_types"]
    assert figures["answered"] + figures["rejected"] == figures["utterances"] == 250
    assert figures["rejected"] > 20 and figures["answered"] > 100  # both ends of the boundary were exercised
    assert figures["touched_by_garbage"] == 0 and figures["sensitive_unconfirmed"] == 0
    assert figures["device_actions"] > 0  # real commands (with zero-width marks, mixed zh/en) still act


def test_negative_control_without_the_error_boundary_crashes(tmp_path: Path) -> None:
    figures = asyncio.run(malformed_utterances(tmp_path / "edge", 120, seed=2, safeguard=False))
    assert figures["crashes"] > 0


def test_generation_is_reproducible_and_covers_every_kind() -> None:
    first = generate(300, 4)
    assert first == generate(300, 4)
    assert len({kind for kind, _ in first}) == 10
    assert any(len(p) > 65_536 for _, p in first) and any(b"\xff" in p or b"\xed\xa0" in p for _, p in first)
    assert any("\u200b".encode() in p or "\u202e".encode() in p for _, p in first)
