"""Edge confirmations against a hostile cloud and sender (the whole corpus), with the negative control."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from bench.reliability.security_edge import CATEGORIES, corpus, edge_confirmations


def test_the_corpus_covers_every_attack_in_both_languages() -> None:
    cases = corpus()
    assert set(Counter(c.category for c in cases)) == set(CATEGORIES)
    assert Counter(c.language for c in cases) == {"en": len(cases) // 2, "zh": len(cases) // 2}
    assert {c.expect for c in cases} == {"ran", "needs_confirmation", "refused"}


def test_only_the_plan_the_user_confirmed_reaches_a_device(tmp_path: Path) -> None:
    figures = asyncio.run(edge_confirmations(tmp_path))
    assert figures["unauthorized_calls"] == 0, figures["unauthorized_examples"]
    assert figures["errors"] == 0, figures["mismatch_examples"]  # every case got the verdict the corpus expects
    assert figures["device_actions"] > 50  # confirmed plans really ran


def test_negative_control_without_the_safeguards_lets_unconfirmed_actions_through(tmp_path: Path) -> None:
    figures = asyncio.run(edge_confirmations(tmp_path, safeguard=False))
    assert figures["unauthorized_calls"] > 0
    assert any(e.startswith("replay_unconfirmed") for e in figures["unauthorized_examples"])
