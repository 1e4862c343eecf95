"""Commands tied to a time or an event are recognised as such, ordinary commands are not."""

from __future__ import annotations

import pytest

from edge.decision.schedule import is_relative, schedule_of, without


@pytest.mark.parametrize(
    ("text", "language", "when"),
    [
        ("at one pm today start the robot vacuum cleaner", "en", "at one pm"),
        ("by ten to eleven am daily start my vacuum cleaner", "en", "by ten to eleven am"),
        ("turn on the tv socket when i arrive home", "en", "when i arrive"),
        ("turn on the fan for 10 minutes", "en", "for 10 minutes"),
        ("in 5 minutes start the robot vacuum", "en", "in 5 minutes"),
        ("turn off the lights at 11:30", "en", "at 11:30"),
        ("Turn off the lights at 7 PM", "en", "at 7 pm"),
        ("switch the heater on every morning", "en", "every morning"),
        ("明天早上七点开空调", "zh-cn", "明天"),
        ("五分钟后关掉电视", "zh-cn", "五分钟后"),
        ("等我到家的时候打开客厅的灯", "zh-cn", "等我到家的时候"),
        ("晚上八点半关灯", "zh-cn", "晚上八点"),
        ("3点半开空调", "zh-cn", "3点半"),
    ],
)
def test_time_and_event_words_are_found(text: str, language: str, when: str) -> None:
    assert schedule_of(text, language) == when


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("turn on the kitchen lights", "en"),
        ("set the lights at 50 percent", "en"),
        ("set brightness at 80", "en"),
        ("turn the light on at one hundred percent", "en"),
        ("lights at 10", "en"),
        ("set the temperature to 21 degrees", "en"),
        ("把灯调亮一点", "zh-cn"),
        ("开一点窗帘", "zh-cn"),
        ("亮度调到百分之五十", "zh-cn"),
        ("把客厅的灯打开", "zh-cn"),
    ],
)
def test_commands_for_now_are_not_scheduled(text: str, language: str) -> None:
    assert schedule_of(text, language) is None


@pytest.mark.parametrize(
    ("text", "language", "command"),
    [
        ("turn on the kitchen lights at seven pm", "en", "turn on the kitchen lights"),
        ("At 7 PM, turn on the porch light", "en", "turn on the porch light"),
        ("五分钟后关掉电视", "zh-cn", "关掉电视"),
    ],
)
def test_the_command_is_read_without_its_time(text: str, language: str, command: str) -> None:
    when = schedule_of(text, language)
    assert when is not None
    assert without(text, when, language) == command


@pytest.mark.parametrize(("when", "relative"), [("in 5 minutes", True), ("for 10 minutes", True),
                                                ("五分钟后", True), ("at seven pm", False),
                                                ("when i arrive", False), ("明天", False), ("晚上八点", False)])
def test_delays_are_told_from_clock_times_and_events(when: str, relative: bool) -> None:
    assert is_relative(when) is relative
