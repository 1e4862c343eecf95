"""Tests for shared/decision.py: utterances are bounded and typed; decisions record source and outcome."""

from __future__ import annotations

from typing import Any

import pytest

from shared.codec import decode, encode, validate
from shared.decision import (
    MAX_UTTERANCE_CHARS,
    Decision,
    DecisionSource,
    DeviceAction,
    Outcome,
    Utterance,
)
from shared.errors import PayloadError

# --- Utterance -------------------------------------------------------------------------------


def test_utterance_defaults() -> None:
    utt = Utterance(text="turn on the kitchen light")
    assert utt.source == "cli"
    assert utt.language is None
    assert len(utt.id) == 32 and len(utt.trace_id) == 32
    assert utt.ts.tzinfo is not None


@pytest.mark.parametrize(("language", "stored"), [("en", "en"), ("zh-cn", "zh-cn"), ("zh-CN", "zh-cn"), ("EN", "en")])
def test_utterance_languages(language: str, stored: str) -> None:
    # BCP 47 tags are case-insensitive; the design writes zh-CN, HA's intents use zh-cn.
    assert validate(Utterance, {"text": "开灯", "language": language}).language == stored


@pytest.mark.parametrize("language", ["fr", "zh", "zh-tw", "en-US", "", " en", "en\n", "zh_cn"])
def test_utterance_rejects_other_languages(language: str) -> None:
    with pytest.raises(PayloadError) as info:
        validate(Utterance, {"text": "hi", "language": language})
    assert info.value.field == "language"


def test_utterance_text_length_limits() -> None:
    assert MAX_UTTERANCE_CHARS == 1000
    assert len(validate(Utterance, {"text": "灯" * MAX_UTTERANCE_CHARS}).text) == MAX_UTTERANCE_CHARS
    with pytest.raises(PayloadError, match="at most 1000 characters") as info:
        validate(Utterance, {"text": "灯" * (MAX_UTTERANCE_CHARS + 1)})
    assert info.value.field == "text"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": 42}, "text"),
        ({"text": "hi", "volume": 3}, "volume"),
        ({"text": "hi", "area": "a" * 129}, "area"),
        ({"text": "hi", "source": ""}, "source"),
        ({"text": "hi", "id": ""}, "id"),
        ({"text": "hi", "trace_id": "t" * 65}, "trace_id"),
    ],
)
def test_bad_utterances_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as info:
        validate(Utterance, data)
    assert info.value.field == field
    assert info.value.model == "Utterance"


def test_utterance_round_trip() -> None:
    utt = Utterance(text="把客厅灯调亮一点", language="zh-cn", area="客厅", source="satellite:living")
    assert decode(Utterance, encode(utt)) == utt


# --- Decision --------------------------------------------------------------------------------


def _decision(**overrides: Any) -> dict[str, Any]:
    return {
        "utterance_id": "u1",
        "trace_id": "t1",
        "edge_id": "gw1",
        "text": "turn on the kitchen light",
        "language": "en",
        "source": "template",
        "intent": "HassTurnOn",
        "slots": {"name": "kitchen light"},
        "actions": [
            {"device_id": "light.kitchen", "name": "Kitchen", "domain": "light", "command": {"state": "ON"},
             "expect": {"state": "ON"}, "outcome": "done", "latency_ms": 41.5}
        ],
        "outcome": "done",
        "reply": "Turned on the kitchen light",
        "latency_ms": 52.0,
        "stages_ms": {"normalize": 0.1, "template": 3.2},
    } | overrides


def test_decision_parses() -> None:
    decision = validate(Decision, _decision())
    assert decision.source is DecisionSource.TEMPLATE
    assert decision.outcome is Outcome.DONE
    assert decision.actions[0] == DeviceAction(
        device_id="light.kitchen", name="Kitchen", domain="light", command={"state": "ON"},
        expect={"state": "ON"}, outcome=Outcome.DONE, latency_ms=41.5,
    )
    assert decision.stages_ms == {"normalize": 0.1, "template": 3.2}
    assert len(decision.id) == 32


def test_decision_sources_are_the_designed_set() -> None:
    assert {s.value for s in DecisionSource} == {"cache", "template", "model", "cloud", "degraded"}


def test_plain_string_command_is_allowed() -> None:
    action = validate(DeviceAction, {"device_id": "lock.front", "name": "Front door", "domain": "lock",
                                     "command": "UNLOCK"})
    assert action.command == "UNLOCK"
    assert action.outcome is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"source": "guess"}, "source"),
        ({"outcome": "maybe"}, "outcome"),
        ({"outcome": None}, "outcome"),
        ({"reply": None}, "reply"),
        ({"latency_ms": "fast"}, "latency_ms"),
        ({"stages_ms": {"template": "slow"}}, "stages_ms.template"),
        ({"actions": [{"device_id": "x", "name": "x", "domain": "light", "command": {}, "outcome": "ok"}]},
         "actions.0.outcome"),
        ({"actions": [{"device_id": "x", "name": "x", "domain": "light"}]}, "actions.0.command"),
        ({"actions": [{"device_id": "x", "name": "x", "domain": "light", "command": 5}]}, "actions.0.command"),
    ],
)
def test_bad_decisions_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as info:
        validate(Decision, _decision(**overrides))
    assert info.value.field == field
    assert info.value.model == "Decision"


def test_decision_round_trip() -> None:
    decision = validate(Decision, _decision(source="degraded", model_version="intent-v3"))
    again = decode(Decision, encode(decision))
    assert again == decision
    assert again.source is DecisionSource.DEGRADED


@pytest.mark.parametrize("value", [True, 1, "yes", None])
def test_the_wire_cannot_confirm_an_utterance(value: object) -> None:
    payload = {"text": "unlock the front door", "confirmed": value}
    with pytest.raises(PayloadError, match=r"'confirmed' cannot be sent.*confirm_token"):
        validate(Utterance, payload)
    with pytest.raises(ValueError, match="cannot be sent"):
        Utterance(text="unlock the front door", confirmed=value)  # type: ignore[call-arg]


def test_only_a_redeemed_token_confirms_and_confirmation_never_travels() -> None:
    said = validate(Utterance, {"text": "unlock the front door", "confirmed": False})  # old senders: harmless
    assert said.confirmed is False
    confirmed = said.confirmed_by_token(plan_id="p1", plan_digest="d")
    assert confirmed.confirmed and not said.confirmed and confirmed.held_plan == ("p1", "d")
    assert confirmed.model_copy(update={"id": "x"}).confirmed  # the daemon's reply-to copy keeps it
    wire = confirmed.model_dump(mode="json")
    assert "confirmed" not in wire and decode(Utterance, encode(confirmed)).confirmed is False
