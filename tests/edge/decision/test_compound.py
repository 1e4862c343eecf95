"""Compound requests are split at conjunctions; single requests stay whole."""

from __future__ import annotations

import pytest

from edge.decision.compound import split_request


@pytest.mark.parametrize(
    ("text", "language", "parts"),
    [
        ("turn off the kitchen lights and lock the front door", "en",
         ["turn off the kitchen lights", "lock the front door"]),
        ("turn off the tv, then close the curtains", "en", ["turn off the tv", "close the curtains"]),
        ("turn on the fan and then open the blinds and also start the vacuum", "en",
         ["turn on the fan", "open the blinds", "start the vacuum"]),
        ("关掉厨房的灯然后锁上前门", "zh-cn", ["关掉厨房的灯", "锁上前门"]),
        ("关掉电视，然后再把窗帘拉上", "zh-cn", ["关掉电视", "把窗帘拉上"]),
    ],
)
def test_compound_requests_split_into_commands(text: str, language: str, parts: list[str]) -> None:
    assert split_request(text, language) == parts


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("turn on the lights", "en"),
        ("black and white", "en"),  # a part too short to be a command
        ("把客厅和卧室的灯打开", "zh-cn"),  # 和 joins areas, not commands
        ("a and b and c and d and e and f", "en"),
    ],
)
def test_single_requests_stay_whole(text: str, language: str) -> None:
    assert split_request(text, language) == [text]
