"""How the bench scripts summarise repeated measurements: nearest-rank percentiles and min/median/max spreads."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The value at rank int(q * n) of the sorted `values` (the largest for q = 1); `values` must not be empty."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_ms(times: Sequence[float]) -> dict[str, float]:
    """p50 (the median) and p99 of `times` in milliseconds, rounded to 0.1 µs."""
    return {"p50_ms": round(statistics.median(times), 4), "p99_ms": round(percentile(times, 0.99), 4)}


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """min / median / max of a figure over repeated runs, rounded to `digits`."""
    return {"min": round(min(values), digits), "median": round(statistics.median(values), digits),
            "max": round(max(values), digits)}
