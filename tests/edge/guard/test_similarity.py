"""Similarity measure: n-grams for English and Chinese, cosine bounds, the text/action mean, the bounded history."""

from __future__ import annotations

import pytest

from edge.guard.similarity import History, Shape, Vector, cosine, similarity, text_grams


def test_text_grams_fold_case_width_and_punctuation() -> None:
    assert text_grams("Turn ON, the light!") == text_grams("turn on the light")
    assert text_grams("ＴＶ") == text_grams("tv")
    assert text_grams("   ?! ") == {}


def test_chinese_runs_use_bigrams_and_mixed_text_keeps_both() -> None:
    assert set(text_grams("打开灯")) == {" 打", "打开", "开灯", "灯 "}
    grams = text_grams("turn on 客厅")
    assert "客厅" in grams and "tur" in grams


def test_cosine_is_one_for_the_same_vector_and_zero_for_empty_or_disjoint() -> None:
    v = Vector.of({"a": 2, "b": 1})
    assert cosine(v, v) == pytest.approx(1.0)
    assert cosine(v, Vector.of({})) == 0.0
    assert cosine(v, Vector.of({"c": 1})) == 0.0


def test_similarity_averages_text_and_actions_or_uses_text_alone() -> None:
    a = Shape.of("turn on the kitchen light", ["cmd:turn_on", "dev:light.kitchen"])
    b = Shape.of("turn on the kitchen light", ["cmd:turn_off", "dev:light.hall"])
    assert similarity(a, b) == pytest.approx(0.5)
    question = Shape.of("turn on the kitchen light", [])
    assert similarity(a, question) == pytest.approx(1.0)


def test_history_keeps_the_last_n_and_scores_the_nearest() -> None:
    history = History(size=2)
    assert history.nearest(Shape.of("anything", [])) == 0.0
    for text in ("turn on the kitchen light", "set the thermostat to 21", "play some music"):
        history.add(Shape.of(text, []))
    assert len(history) == 2
    assert history.nearest(Shape.of("turn on the kitchen light", [])) < 0.5  # the oldest is gone
    assert history.nearest(Shape.of("play some music", [])) == pytest.approx(1.0)
