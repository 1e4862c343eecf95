"""The cloud API as a real server under hostile bodies and load, with its two negative controls."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.api_server import hostile_server


def test_real_server_refuses_huge_and_deep_bodies_and_sheds_load_with_429(tmp_path: Path) -> None:
    figures = asyncio.run(hostile_server(tmp_path, 130))
    assert figures["streamed_50mb_status"] == figures["declared_50mb_status"] == 413
    assert figures["streamed_50mb_sent_mb"] < 25 and figures["declared_50mb_sent_mb"] < 25  # most never sent
    assert 400 <= figures["nested_100k_status"] < 500
    assert figures["api_5xx"] == 0 and figures["undesigned"] == 0 and figures["unanswered"] == 0
    assert figures["outcomes"].get("429", 0) > 0 and figures["outcomes"].get("200", 0) > 0  # shed, and served
    assert figures["memory_unbounded"] == 0, figures["rss_growth_mb"]


def test_negative_control_without_a_body_limit_the_50_mb_bodies_are_read(tmp_path: Path) -> None:
    figures = asyncio.run(hostile_server(tmp_path, 0, max_body_bytes=1 << 30, planner={"lazy_load": True}))
    assert figures["oversized_read"] == 2
    assert figures["streamed_50mb_sent_mb"] == figures["declared_50mb_sent_mb"] == 50.0


def test_negative_control_an_unbounded_queue_ends_overload_in_5xx(tmp_path: Path) -> None:
    figures = asyncio.run(hostile_server(tmp_path, 130, bodies=False,
                                         planner={"max_queue": 100_000, "request_timeout_s": 1.0}))
    assert figures["api_5xx"] > 0 and figures["outcomes"].get("429", 0) == 0
