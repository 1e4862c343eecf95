"""The cloud API under fuzzing, token abuse, hostile bodies and load (reduced counts), with negative controls."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.api import bad_tokens, fuzz, rbac_matrix
from bench.reliability.api_matrix import MATRIX, ON_SITE_A_RESOURCE, PROTECTED, ROLES
from bench.reliability.api_server import hostile_server


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


def test_every_role_route_and_site_gets_the_intended_status(tmp_path: Path) -> None:
    figures = asyncio.run(rbac_matrix(tmp_path))
    assert figures["rbac_mismatches"] == 0, figures["examples"]
    assert figures["calls"] == len(MATRIX) * len(ROLES) + 2 * len(ON_SITE_A_RESOURCE) + 3


def test_negative_control_a_site_blind_authenticator_shows_mismatches(tmp_path: Path) -> None:
    figures = asyncio.run(rbac_matrix(tmp_path, site_blind=True))
    assert figures["rbac_mismatches"] >= len(ON_SITE_A_RESOURCE)  # site-B admins reach every site-A resource


def test_no_bad_or_other_site_token_is_accepted(tmp_path: Path) -> None:
    figures = asyncio.run(bad_tokens(tmp_path))
    assert figures["unauthorized_calls"] == 0 and figures["wrong_status"] == 0, figures["examples"]
    assert figures["calls"] == 8 * len(PROTECTED) + 2 * len(ON_SITE_A_RESOURCE)


def test_negative_control_a_lax_verifier_accepts_bad_tokens(tmp_path: Path) -> None:
    figures = asyncio.run(bad_tokens(tmp_path, lax=True))
    assert figures["unauthorized_calls"] > 0


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
