"""Text normalisation and language detection ahead of the stages."""

from __future__ import annotations

import pytest

from edge.decision.pipeline import detect_language, normalize_text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Hey Olly, turn off the lights!", "turn off the lights"),
        ("olly   dim the lights.", "dim the lights"),
        ("把客厅的灯打开。", "把客厅的灯打开"),
        ("小爱同学，打开窗帘", "打开窗帘"),
        ("ｔｕｒｎ on", "turn on"),
    ],
)
def test_normalize_text(raw: str, clean: str) -> None:
    assert normalize_text(raw) == clean


def test_detect_language() -> None:
    assert detect_language("turn on the lights") == "en"
    assert detect_language("turn on 客厅 lights") == "zh-cn"
