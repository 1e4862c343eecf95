"""Reconnect backoff: exponential, capped, fully jittered, reset after success."""

from __future__ import annotations

import random

import pytest

from edge.io.backoff import Backoff
from shared.errors import ConfigError


def test_ceiling_doubles_up_to_the_cap() -> None:
    b = Backoff(0.5, 4.0, rand=lambda: 0.999)
    delays = [b.next_delay() for _ in range(6)]
    assert delays == pytest.approx([0.4995, 0.999, 1.998, 3.996, 3.996, 3.996])
    assert b.attempt == 6


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    assert Backoff(0.5, 4.0, rand=lambda: 0.0).next_delay() == 0.0
    b = Backoff(0.5, 4.0, rand=random.Random(7).random)
    for _ in range(4):
        b.next_delay()
    samples = [b.next_delay() for _ in range(2000)]  # all capped at 4.0
    assert all(0.0 <= d < 4.0 for d in samples)
    assert min(samples) < 0.1 and max(samples) > 3.9
    assert sum(samples) / len(samples) == pytest.approx(2.0, rel=0.1)
    assert len(set(samples)) > 1900


def test_reset_starts_over() -> None:
    b = Backoff(1.0, 60.0, rand=lambda: 0.5)
    for _ in range(5):
        b.next_delay()
    b.reset()
    assert b.attempt == 0 and b.next_delay() == 0.5


def test_huge_attempt_does_not_overflow() -> None:
    assert Backoff(0.5, 30.0).ceiling(100_000) == 30.0


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_rejects_impossible_bounds(base: float, cap: float) -> None:
    with pytest.raises(ConfigError):
        Backoff(base, cap)
