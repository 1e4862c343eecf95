"""Spoken numbers in English and Chinese."""

from __future__ import annotations

import pytest

from edge.decision.numbers import parse_number


@pytest.mark.parametrize(
    ("text", "value"),
    [("50%", 50), ("21.5", 21.5), ("fifty percent", 50), ("twenty five", 25), ("a hundred", 100),
     ("one hundred", 100), ("seventy-five", 75), ("half", 50), ("百分之五十", 50), ("二十二度", 22),
     ("十", 10), ("十五", 15), ("一百", 100), ("两", 2), ("三十", 30)],
)
def test_parse_number(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "bright", "the kitchen"])
def test_no_number(text: str) -> None:
    assert parse_number(text) is None
