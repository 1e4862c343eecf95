"""The cloud breaker against a black-holed cloud (reduced counts), with its negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.breaker import LOCAL_BOUND_S, black_holed_cloud


def test_a_black_holed_cloud_leaves_local_commands_fast_and_the_breaker_recovers(tmp_path: Path) -> None:
    figures = asyncio.run(black_holed_cloud(tmp_path, hole_s=2.5))
    assert figures["local"] > 0 and figures["local_slow"] == 0
    assert figures["local_p99_ms"] < LOCAL_BOUND_S * 1000
    assert figures["cloud"] == figures["cloud_unavailable"] > 0  # every cloud request got a clear answer
    assert figures["opened_after_s"] is not None and figures["opened_after_s"] < 2.5
    assert figures["not_recovered"] == 0 and figures["recovery_first_cloud_answer_s"] < 5


def test_negative_control_without_a_breaker_local_commands_wait_behind_hanging_requests(tmp_path: Path) -> None:
    figures = asyncio.run(black_holed_cloud(tmp_path, hole_s=2.5, safeguard=False))
    assert figures["opened_after_s"] is None and figures["local_slow"] > 0
