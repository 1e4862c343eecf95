"""The prompt format shared by the engine and the tiny-planner trainer."""

from __future__ import annotations

from cloud.planner.prompt import render_messages, render_prompt


def test_render_prompt_is_stable() -> None:
    assert render_prompt("  turn  off\nthe light ", "en", "devices:\n- a\n") == (
        "<|system|>devices:\n- a\n<|user|>[en] turn off the light\n<|assistant|>")


def test_render_messages_carries_the_same_request() -> None:
    system, user = render_messages("把灯打开", "zh", "devices: x")
    assert system["role"] == "system" and system["content"].endswith("devices: x")
    assert user == {"role": "user", "content": "[zh] 把灯打开"}
