"""Behaviour monitor: rate bursts and their limits, the night disarm-then-unlock sequence, unusual unlock sources,
similarity to a user's history, and building events from the pipeline's plans and decisions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from edge.config import MonitorSettings
from edge.decision.gate import activity_of
from edge.decision.intents import Plan
from edge.devices.entity import Command, Entity
from edge.guard.activity import ActionRef, ActivityEvent
from edge.guard.monitor import Alert, Monitor
from shared.decision import Decision, DecisionSource, DeviceAction, Outcome, Utterance
from shared.discovery import parse_discovery


class WallClock:
    """Aware wall-clock time that moves only when a test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def at(self, hour: int, minute: int = 0) -> None:
        """Jump forward to the next hour:minute."""
        target = self.now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        self.now = target if target > self.now else target + timedelta(days=1)


DAY = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday afternoon
LIGHT = ActionRef(device_id="light.kitchen", domain="light", command="turn_on")
FRONT = ActionRef(device_id="lock.front_door", domain="lock", command="unlock")
ALARM = ActionRef(device_id="alarm_control_panel.house", domain="alarm_control_panel", command="alarm_disarm")


def request(text: str = "turn on the kitchen light", actions: tuple[ActionRef, ...] = (LIGHT,), *,
            who: str = "alice", intent: str = "HassTurnOn", **fields: object) -> ActivityEvent:
    return ActivityEvent(who=who, intent=intent, actions=list(actions), text=text, channel="satellite:kitchen",
                         **fields)


def monitor(clock: WallClock, alerts: list[Alert] | None = None, **settings: object) -> Monitor:
    sink = alerts.append if alerts is not None else None
    return Monitor(MonitorSettings(timezone="UTC", **settings), clock=clock, on_alert=sink)


def run(m: Monitor, event: ActivityEvent) -> str:
    """Check, then observe what the pipeline would carry out; the verdict's action."""
    verdict = m.check(event)
    m.observe(event.model_copy(update={"accepted": verdict.action == "allow"}))
    return verdict.action


@pytest.fixture
def clock() -> WallClock:
    return WallClock(DAY)


# settings

def test_defaults_match_the_product_issue() -> None:
    s = MonitorSettings()
    assert (s.bucket_s, s.window_buckets, s.sigma) == (60.0, 60, 3.0)
    assert (s.similarity_threshold, s.min_history, s.sequence_window_s) == (0.7, 20, 600.0)
    assert (s.night_start.hour, s.night_end.hour) == (22, 6)


def test_unknown_time_zone_is_refused_with_the_fix() -> None:
    with pytest.raises(ValidationError, match="IANA"):
        MonitorSettings(timezone="Mars/Olympus")


# rates

def test_a_quiet_device_doing_three_commands_is_not_a_burst(clock: WallClock) -> None:
    m = monitor(clock)
    assert [run(m, request()) for _ in range(3)] == ["allow"] * 3


def test_a_burst_on_one_device_is_limited_with_one_alert(clock: WallClock) -> None:
    alerts: list[Alert] = []
    m = monitor(clock, alerts)
    actions = []
    for _ in range(12):
        actions.append(run(m, request()))
        clock.advance(2)
    assert actions[:6] == ["allow"] * 6  # the floor: six in a minute is still normal
    assert actions[6:] == ["limit"] * 6
    verdict = m.check(request())
    assert verdict.rule == "rate:device" and verdict.retry_after_s is not None
    assert "device:light.kitchen" in verdict.reason
    assert [(a.rule, a.subject, a.count) for a in alerts] == [  # refused requests still count: alice keeps going
        ("rate:device", "device:light.kitchen", 7), ("rate:user", "user:alice", 11)]


def test_burst_threshold_follows_the_devices_usual_rate(clock: WallClock) -> None:
    m = monitor(clock)
    for _ in range(60):  # an hour of a steady 8 commands a minute
        for _ in range(8):
            m.observe(request())
        clock.advance(60)
    assert [run(m, request()) for _ in range(12)] == ["allow"] * 12  # 12 > 8, but within Poisson noise
    clock.advance(60)
    actions = [run(m, request()) for _ in range(25)]
    assert "limit" in actions and actions.index("limit") > 12


def test_a_user_commanding_many_devices_at_once_is_limited(clock: WallClock) -> None:
    alerts: list[Alert] = []
    m = monitor(clock, alerts)
    lights = [ActionRef(device_id=f"light.l{i}", domain="light", command="turn_on") for i in range(15)]
    actions = [run(m, request(actions=(light,))) for light in lights]
    assert actions[:10] == ["allow"] * 10 and actions[10] == "limit"
    assert m.check(request(actions=(lights[0],))).rule == "rate:user"
    assert m.check(request(who="bob", actions=(lights[0],))).action == "allow"  # only alice is limited
    assert alerts[0].rule == "rate:user" and alerts[0].subject == "user:alice"


def test_a_device_burst_limits_that_device_not_the_users_other_devices(clock: WallClock) -> None:
    m = monitor(clock)
    for _ in range(7):
        run(m, request())
    other = ActionRef(device_id="light.hall", domain="light", command="turn_on")
    assert m.check(request()).action == "limit"
    assert m.check(request("turn on the hall light", (other,))).action == "allow"


def test_a_rate_limit_expires(clock: WallClock) -> None:
    m = monitor(clock, limit_s=120)
    for _ in range(7):
        run(m, request())
    clock.advance(119)
    assert m.check(request()).action == "limit"
    clock.advance(2)
    assert m.check(request()).action == "allow"


def test_a_confirmed_request_does_not_lift_a_limit(clock: WallClock) -> None:
    m = monitor(clock)
    for _ in range(7):
        run(m, request())
    assert m.check(request(confirmed=True)).action == "limit"


def test_questions_do_not_count_towards_rates(clock: WallClock) -> None:
    m = monitor(clock)
    for _ in range(30):
        run(m, request("what time is it", (), intent="HassGetCurrentTime"))
    assert m.check(request(confirmed=True)).action == "allow"


# the night sequence

def disarm(m: Monitor, *, accepted: bool = True) -> None:
    m.observe(ActivityEvent(who="keypad", actions=[ALARM], source="device", channel="keypad", accepted=accepted))


def unlock(who: str = "alice", channel: str = "app:alice", **fields: object) -> ActivityEvent:
    return ActivityEvent(who=who, intent="HassTurnOff", actions=[FRONT], text="unlock the front door",
                         channel=channel, **fields)


def learned_unlock(m: Monitor) -> None:
    """Alice has unlocked from her app before, so only the sequence rule can fire."""
    m.observe(unlock())


def test_disarm_then_unlock_at_night_needs_confirmation(clock: WallClock) -> None:
    alerts: list[Alert] = []
    m = monitor(clock, alerts)
    learned_unlock(m)
    clock.at(23, 30)
    disarm(m)
    clock.advance(5 * 60)
    verdict = m.check(unlock())
    assert (verdict.action, verdict.rule) == ("confirm", "sequence:disarm_then_unlock_at_night")
    assert "5 min" in verdict.reason
    assert alerts[-1].rule == "sequence:disarm_then_unlock_at_night"
    assert m.check(unlock(confirmed=True)).action == "allow"


def test_the_sequence_is_caught_in_the_small_hours_too(clock: WallClock) -> None:
    m = monitor(clock)
    learned_unlock(m)
    clock.at(3, 10)
    disarm(m)
    clock.advance(60)
    assert m.check(unlock()).rule == "sequence:disarm_then_unlock_at_night"


def test_disarm_then_unlock_in_the_daytime_is_allowed(clock: WallClock) -> None:
    m = monitor(clock)
    learned_unlock(m)
    clock.at(17, 30)
    disarm(m)
    clock.advance(60)
    assert m.check(unlock()).action == "allow"


def test_unlock_then_disarm_at_night_is_allowed(clock: WallClock) -> None:
    m = monitor(clock)
    learned_unlock(m)
    clock.at(23, 30)
    assert run(m, unlock()) == "allow"
    clock.advance(60)
    disarm(m)


def test_an_unlock_after_the_sequence_window_is_allowed(clock: WallClock) -> None:
    m = monitor(clock)
    learned_unlock(m)
    clock.at(23, 0)
    disarm(m)
    clock.advance(11 * 60)
    assert m.check(unlock()).action == "allow"


def test_a_held_disarm_does_not_start_the_sequence(clock: WallClock) -> None:
    m = monitor(clock)
    learned_unlock(m)
    clock.at(23, 0)
    disarm(m, accepted=False)  # the alarm is still armed
    clock.advance(60)
    assert m.check(unlock()).action == "allow"


def test_night_hours_are_the_homes_local_time(clock: WallClock) -> None:
    m = Monitor(MonitorSettings(timezone="Asia/Shanghai"), clock=clock)
    assert m.is_night(datetime(2026, 3, 2, 15, 30, tzinfo=UTC))  # 23:30 in Shanghai
    assert not m.is_night(datetime(2026, 3, 2, 23, 30, tzinfo=UTC))  # 07:30 in Shanghai
    day = Monitor(MonitorSettings(timezone="UTC", night_start="01:00", night_end="05:00"), clock=clock)
    assert day.is_night(datetime(2026, 3, 2, 4, 59, tzinfo=UTC)) and not day.is_night(DAY)


# unusual unlock sources

def test_an_unlock_from_a_new_origin_needs_confirmation(clock: WallClock) -> None:
    alerts: list[Alert] = []
    m = monitor(clock, alerts)
    learned_unlock(m)
    assert m.check(unlock()).action == "allow"
    verdict = m.check(unlock(source=DecisionSource.CLOUD))
    assert (verdict.action, verdict.rule) == ("confirm", "source:unusual_unlock")
    assert "app:alice/cloud" in verdict.reason
    assert m.check(unlock(channel="satellite:garage")).rule == "source:unusual_unlock"
    assert m.check(unlock(who="bob")).rule == "source:unusual_unlock"  # origins are per user
    assert [a.rule for a in alerts] == ["source:unusual_unlock"] * 3


def test_edge_stages_are_one_origin(clock: WallClock) -> None:
    m = monitor(clock)
    learned_unlock(m)
    assert m.check(unlock(source=DecisionSource.CACHE)).action == "allow"
    assert m.check(unlock(source=DecisionSource.MODEL)).action == "allow"


def test_a_held_unlock_is_not_learned_a_confirmed_one_is(clock: WallClock) -> None:
    m = monitor(clock)
    learned_unlock(m)
    assert run(m, unlock(channel="cloud")) == "confirm"
    assert m.check(unlock(channel="cloud")).action == "confirm"  # asking again does not make it normal
    assert run(m, unlock(channel="cloud", confirmed=True)) == "allow"
    assert m.check(unlock(channel="cloud")).action == "allow"


# similarity to the user's history

ROUTINE = ["turn on the kitchen light", "turn off the kitchen light", "switch on the bedroom lamp",
           "set the thermostat to 21 degrees", "打开厨房的灯"]


def learn(m: Monitor, clock: WallClock, n: int) -> None:
    """`n` routine requests, ten minutes apart (no burst)."""
    for i in range(n):
        m.observe(routine(i))
        clock.advance(600)


def routine(i: int) -> ActivityEvent:
    text = ROUTINE[i % len(ROUTINE)]
    device = {0: "light.kitchen", 1: "light.kitchen", 2: "light.bedroom", 3: "climate.home", 4: "light.kitchen"}
    command = {0: "turn_on", 1: "turn_off", 2: "turn_on", 3: "set_temperature", 4: "turn_on"}
    domain = device[i % 5].split(".")[0]
    return request(text, (ActionRef(device_id=device[i % 5], domain=domain, command=command[i % 5]),))


ODD = request("preheat the oven to 250 degrees", (ActionRef(device_id="switch.oven", domain="switch",
                                                            command="turn_on"),), intent="HassTurnOn")


def test_similarity_applies_only_after_enough_history(clock: WallClock) -> None:
    alerts: list[Alert] = []
    m = monitor(clock, alerts)
    learn(m, clock, 19)
    assert m.check(ODD).action == "allow"
    m.observe(routine(19))
    verdict = m.check(ODD)
    assert (verdict.action, verdict.rule) == ("confirm", "similarity:user_history")
    assert "nearest 0." in verdict.reason
    assert alerts == []  # a question to the user, not a security alert


def test_familiar_requests_pass_in_other_words(clock: WallClock) -> None:
    m = monitor(clock)
    learn(m, clock, 25)
    assert m.check(routine(3).model_copy(update={"text": "set the thermostat to 23 degrees"})).action == "allow"
    assert m.check(routine(0).model_copy(update={"text": "kitchen light on please"})).action == "allow"
    assert m.check(routine(4).model_copy(update={"text": "把厨房的灯打开"})).action == "allow"


def test_history_is_per_user_and_confirmation_passes(clock: WallClock) -> None:
    m = monitor(clock)
    learn(m, clock, 25)
    assert m.check(ODD.model_copy(update={"who": "bob"})).action == "allow"  # bob has no history yet
    assert m.check(ODD.model_copy(update={"confirmed": True})).action == "allow"


def test_held_requests_do_not_enter_the_history(clock: WallClock) -> None:
    m = monitor(clock)
    learn(m, clock, 25)
    assert run(m, ODD) == "confirm"
    assert m.check(ODD).action == "confirm"


# events from the pipeline

def light_entity() -> Entity:
    config = {"unique_id": "light.kitchen", "name": "Kitchen Light", "schema": "json", "command_topic": "z/k/set",
              "device": {"identifiers": ["0x1"], "name": "Kitchen Light", "suggested_area": "Kitchen"}}
    parsed = parse_discovery("light", json.dumps(config))
    assert parsed is not None
    return Entity.from_config(parsed, "homeassistant/light/x/config")


def test_events_from_a_plan_and_from_its_decision() -> None:
    utterance = Utterance(text="turn on the kitchen light", source="satellite:kitchen", area="kitchen")
    plan = Plan("HassTurnOn", [(light_entity(), Command("turn_on"))])
    before = activity_of(plan, utterance.model_copy(update={"user": "alice"}), DecisionSource.TEMPLATE)
    assert (before.who, before.intent, before.device_ids, before.commands) == (
        "alice", "HassTurnOn", ["light.kitchen"], {"turn_on"})
    assert (before.origin, before.trace_id, before.area) == ("satellite:kitchen/edge", utterance.trace_id, "kitchen")
    decision = Decision(utterance_id=utterance.id, trace_id=utterance.trace_id, edge_id="gw", text=utterance.text,
                        language="en", source=DecisionSource.TEMPLATE, intent="HassTurnOn", outcome=Outcome.DONE,
                        reply="ok", latency_ms=1.0, actions=[DeviceAction(device_id="light.kitchen", name="k",
                                                                          domain="light", command={"name": "turn_on"})])
    after = ActivityEvent.from_decision(decision, utterance, who="alice")
    assert after.accepted and after.actions == before.actions
    held = decision.model_copy(update={"outcome": Outcome.NEEDS_CONFIRMATION, "actions": []})
    assert not ActivityEvent.from_decision(held, utterance).accepted
