"""Template stage (real hassil + HA templates) and intent handlers over an in-memory registry."""

from __future__ import annotations

from typing import Any

import pytest

from edge.decision.intents import IntentHandlers
from edge.decision.replies import Refusal
from edge.decision.template_stage import TemplateStage
from edge.devices.registry import Registry
from tests.edge.devices.test_entity import LIGHT, entity


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = Registry()
    registry.put(entity("light", LIGHT))
    registry.put(entity("light", {**LIGHT, "unique_id": "l2", "name": "Ceiling Light", "aliases": {"zh-cn": ["吊灯"]},
                                  "suggested_area_aliases": {},
                                  "device": {"identifiers": ["2"], "suggested_area": "Living Room"}}))
    registry.put(entity("lock", {"unique_id": "lk", "name": "Front Door Lock", "command_topic": "lk/set",
                                 "state_topic": "lk", "value_template": "{{ value_json.state }}"}))
    registry.put(entity("climate", {"unique_id": "th", "name": "Thermostat", "temperature_command_topic": "t/set",
                                    "min_temp": 5, "max_temp": 30}))
    return registry


@pytest.fixture(scope="module")
def stage(registry: Registry) -> TemplateStage:
    return TemplateStage(registry, ["en", "zh-cn"])


def twin(values: dict[str, dict[str, Any]]) -> IntentHandlers:
    return IntentHandlers(Registry(), lambda device_id: values.get(device_id, {}))


@pytest.mark.parametrize(
    ("text", "language", "intent", "slots"),
    [
        ("turn off the kitchen lights", "en", "HassTurnOff", {"area": "kitchen", "domain": "light"}),
        ("turn on the ceiling light", "en", "HassTurnOn", {"name": "Ceiling Light"}),
        ("set the ceiling light to 30%", "en", "HassLightSet", {"brightness": 30}),
        ("把客厅的灯打开", "zh-cn", "HassTurnOn", {"area": "living room"}),
        ("打开吊灯", "zh-cn", "HassTurnOn", {"name": "吊灯"}),
        ("lock the front door", "en", "HassTurnOn", {"name": "Front Door", "domain": "lock"}),
        ("set the thermostat to 21 degrees", "en", "HassClimateSetTemperature", {"temperature": 21}),
    ],
)
def test_template_stage_matches_with_discovered_names(stage: TemplateStage, text: str, language: str,
                                                      intent: str, slots: dict[str, Any]) -> None:
    match = stage.match(text, language)
    assert match is not None and match.intent == intent
    for key, value in slots.items():
        assert match.slots[key] == value


def test_template_stage_says_not_mine(stage: TemplateStage) -> None:
    assert stage.match("order me a pizza", "en") is None
    assert stage.match("随便聊聊天吧", "zh-cn") is None


def test_unknown_name_is_reported_not_guessed(stage: TemplateStage, registry: Registry) -> None:
    match = stage.match("turn on the garage light", "en")
    assert match is not None and match.unmatched
    handlers = IntentHandlers(registry, lambda _: {})
    with pytest.raises(Refusal) as info:
        handlers.plan(match)
    assert info.value.outcome == "unknown_device" and "garage" in str(info.value)


def test_plans_for_area_and_sensitive_actions(stage: TemplateStage, registry: Registry) -> None:
    handlers = IntentHandlers(registry, lambda _: {})
    plan = handlers.plan(stage.match("turn off the kitchen lights", "en"))  # type: ignore[arg-type]
    assert [(e.device_id, c.name) for e, c in plan.actions] == [("l1", "turn_off")] and not plan.sensitive
    plan = handlers.plan(stage.match("unlock the front door", "en"))  # type: ignore[arg-type]
    assert [(e.device_id, c.name) for e, c in plan.actions] == [("lk", "unlock")] and plan.sensitive


def test_state_question_is_answered_from_the_twin(stage: TemplateStage, registry: Registry) -> None:
    handlers = IntentHandlers(registry, lambda device_id: {"state": "ON"} if device_id == "l1" else {})
    plan = handlers.plan(stage.match("is the kitchen light on", "en"))  # type: ignore[arg-type]
    assert plan.answer == "Yes, Kitchen Light is on."
    handlers = IntentHandlers(registry, lambda device_id: {"state": "OFF"})
    plan = handlers.plan(stage.match("is the kitchen light on", "en"))  # type: ignore[arg-type]
    assert plan.answer == "No, Kitchen Light is off."
