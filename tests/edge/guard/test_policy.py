"""Admission policy: rules on CPU and p95 latency, priorities of users and devices, the default route, validation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from edge.config import DEFAULT_DEVICE_PRIORITIES, Action, LoadSample, PolicyRule, PolicySettings, Priority
from edge.guard.policy import AdmissionPolicy, mentioned_domains

HIGH, NORMAL, LOW = Priority.HIGH, Priority.NORMAL, Priority.LOW


class FakeLoad:
    """Load signals a test sets by hand."""

    def __init__(self, cpu: float | None = None, p95: float | None = None) -> None:
        self.cpu = cpu
        self.p95 = p95
        self.latencies: list[float] = []

    def sample(self) -> LoadSample:
        return LoadSample(cpu=self.cpu, p95_latency_ms=self.p95)

    def record_latency(self, ms: float) -> None:
        self.latencies.append(ms)


USERS = {"alice": HIGH, "kid": LOW}
DEVICES = {"light.porch": HIGH, "media_player": LOW}


def policy(load: FakeLoad, **settings: Any) -> AdmissionPolicy:
    settings.setdefault("user_priorities", USERS)
    settings.setdefault("device_priorities", DEVICES)
    return AdmissionPolicy(PolicySettings(**settings), load)


def first_error(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    error = exc.value.errors()[0]
    where = ".".join(map(str, error["loc"]))
    return f"{where}: {error['msg']}" if where else error["msg"]


def test_defaults_are_the_reference_deployment() -> None:
    s = PolicySettings()
    assert [r.name for r in s.rules] == ["overload_cpu", "overload_latency", "default"]
    cpu, latency, default = s.rules
    assert (cpu.cpu_above, cpu.p95_latency_ms_above) == (0.8, None)
    assert (latency.cpu_above, latency.p95_latency_ms_above) == (None, 500.0)
    assert cpu.actions == latency.actions == {LOW: Action.SHED, NORMAL: Action.QUEUE}
    assert default.unconditional and default.actions == {HIGH: Action.ROUTE, NORMAL: Action.ROUTE, LOW: Action.ROUTE}
    assert s.device_priorities == {"lock": HIGH, "alarm_control_panel": HIGH}
    assert (s.default_priority, s.user_priorities, s.source_priorities) == (NORMAL, {}, {})


@pytest.mark.parametrize("who", ["alice", "kid", None, "stranger"])
def test_default_route_when_load_is_normal(who: str | None) -> None:
    decision = policy(FakeLoad(cpu=0.3, p95=120.0)).decide(who)
    assert (decision.action, decision.rule, decision.wait_s) == (Action.ROUTE, "default", None)


def test_unknown_signals_exceed_nothing() -> None:
    # The first second after start (no CPU delta yet) and too few latencies must not throttle anyone.
    assert policy(FakeLoad()).decide("kid").rule == "default"


def test_cpu_rule_sheds_low_and_queues_normal() -> None:
    p = policy(FakeLoad(cpu=0.85, p95=100.0))
    low, normal, high = p.decide("kid"), p.decide("bob"), p.decide("alice")
    assert (low.action, low.rule, low.priority) == (Action.SHED, "overload_cpu", LOW)
    assert (normal.action, normal.rule, normal.priority, normal.wait_s) == (Action.QUEUE, "overload_cpu", NORMAL, 2.0)
    assert (high.action, high.rule, high.priority) == (Action.ROUTE, "default", HIGH)
    assert low.load == LoadSample(cpu=0.85, p95_latency_ms=100.0)  # what the decision was made on


def test_latency_rule_fires_on_p95() -> None:
    p = policy(FakeLoad(cpu=0.2, p95=650.0))
    assert (p.decide("kid").action, p.decide("kid").rule) == (Action.SHED, "overload_latency")
    assert (p.decide("bob").action, p.decide("bob").rule) == (Action.QUEUE, "overload_latency")


@pytest.mark.parametrize(("cpu", "p95", "rule"), [
    (0.8, 500.0, "default"),  # thresholds are "above": equal is not overloaded
    (0.81, 500.0, "overload_cpu"),
    (0.8, 500.1, "overload_latency"),
    (0.95, 900.0, "overload_cpu"),  # both: the first rule in order wins
])
def test_thresholds_are_strict_and_rules_ordered(cpu: float, p95: float, rule: str) -> None:
    assert policy(FakeLoad(cpu=cpu, p95=p95)).decide("bob").rule == rule


@pytest.mark.parametrize("load", [FakeLoad(), FakeLoad(cpu=0.99), FakeLoad(p95=5000.0), FakeLoad(0.99, 5000.0)])
@pytest.mark.parametrize(("who", "devices", "source"), [
    ("alice", (), None),  # a high-priority user
    ("kid", ("lock",), None),  # a lock, by domain, even for a low-priority user
    ("kid", ("light.kitchen", "alarm_control_panel"), None),
    (None, ("light.porch",), None),  # a high-priority device id
    ("kid", (), "panel.hall"),  # a high-priority source
])
def test_high_priority_is_never_shed(load: FakeLoad, who: str | None, devices: tuple[str, ...],
                                     source: str | None) -> None:
    decision = policy(load, source_priorities={"panel.hall": HIGH}).decide(who, devices, source)
    assert decision.priority is HIGH
    assert decision.action is Action.ROUTE


def test_priority_is_the_highest_known_else_the_default() -> None:
    p = policy(FakeLoad())
    assert p.priority("kid", ["media_player"]) is LOW
    assert p.priority("kid", ["light.kitchen"]) is LOW  # an unlisted device adds nothing
    assert p.priority("bob") is NORMAL
    assert p.priority("kid", ["media_player", "lock"]) is HIGH
    assert p.priority(None, "lock") is HIGH  # a bare string is one device, not five letters
    assert policy(FakeLoad(), default_priority="low").priority("bob") is LOW


def test_device_settings_add_to_the_lock_and_alarm_defaults() -> None:
    s = PolicySettings(device_priorities={"light.porch": "high"})
    assert s.device_priorities == {**DEFAULT_DEVICE_PRIORITIES, "light.porch": HIGH}
    assert PolicySettings(device_priorities={"lock": "normal"}).device_priorities["lock"] is NORMAL


def test_custom_rules_from_a_settings_file() -> None:
    # The shape a TOML [edge.policy] table produces: plain strings everywhere.
    s = PolicySettings.model_validate({"rules": [
        {"name": "hot_and_slow", "cpu_above": 0.7, "p95_latency_ms_above": 300,
         "actions": {"high": "queue", "normal": "shed", "low": "shed"}, "wait_s": 5},
        {"name": "default", "actions": {"high": "route", "normal": "route", "low": "route"}},
    ]})
    load = FakeLoad(cpu=0.75, p95=200.0)
    p = AdmissionPolicy(s, load)
    assert p.decide("bob").rule == "default"  # conditions of one rule must all hold
    load.p95 = 350.0
    high = AdmissionPolicy(s.model_copy(update={"user_priorities": {"alice": HIGH}}), load).decide("alice")
    assert (high.action, high.rule, high.wait_s) == (Action.QUEUE, "hot_and_slow", 5.0)
    assert p.decide("bob").action is Action.SHED


CATCH_ALL = {"name": "default", "actions": {"high": "route", "normal": "route", "low": "route"}}


@pytest.mark.parametrize(("settings", "message"), [
    ({"rules": [{"name": "hot", "cpu_above": 80, "actions": {"low": "shed"}}, CATCH_ALL]},
     "rules.0.cpu_above: Value error, cpu_above is a fraction of all cores between 0 and 1 (0.8 for 80%), not 80"),
    ({"rules": [{"name": "hot", "cpu_above": 0.8, "actions": {"high": "shed"}}, CATCH_ALL]},
     "rules.0: Value error, rule 'hot' sheds high-priority work; high priority may only queue or route"),
    ({"rules": [{"name": "hot", "cpu_above": 0.8, "actions": {"low": "drop"}}, CATCH_ALL]},
     "rules.0.actions.low: Input should be 'route', 'queue' or 'shed'"),
    ({"rules": [{"name": "hot", "cpu_above": 0.8, "actions": {"urgent": "queue"}}, CATCH_ALL]},
     "rules.0.actions.urgent.[key]: Input should be 'high', 'normal' or 'low'"),
    ({"rules": [{"name": "hot", "cpu_above": 0.8, "actions": {}}, CATCH_ALL]},
     "rules.0.actions: Dictionary should have at least 1 item after validation, not 0"),
    ({"rules": [{"name": "hot", "cpu_abov": 0.8, "actions": {"low": "shed"}}, CATCH_ALL]},
     "rules.0.cpu_abov: Extra inputs are not permitted"),
    ({"rules": [{"name": "hot", "cpu_above": 0.8, "actions": {"low": "shed"}}]},
     "Value error, the last rule ('hot') must have no load condition and act on every priority (high, normal, low),"
     " so that every request meets a rule"),
    ({"rules": [CATCH_ALL, {"name": "hot", "cpu_above": 0.8, "actions": {"low": "shed"}}, CATCH_ALL]},
     "Value error, rule names must be unique (each decision names its rule): default"),
    ({"rules": [{**CATCH_ALL, "name": "first"}, {"name": "hot", "cpu_above": 0.8, "actions": {"low": "shed"}},
                CATCH_ALL]},
     "Value error, rule 'first' applies always, so the rules after it are never reached: hot, default"),
    ({"rules": []}, "rules: List should have at least 1 item after validation, not 0"),
    ({"user_priorities": {"alice": "vip"}}, "user_priorities.alice: Input should be 'high', 'normal' or 'low'"),
])
def test_validation_errors_are_clear(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        PolicySettings.model_validate(settings)
    assert first_error(exc) == message


def test_rule_names_are_plain_identifiers() -> None:
    with pytest.raises(ValidationError, match="should match pattern"):
        PolicyRule(name="Overload CPU!", cpu_above=0.8, actions={LOW: Action.SHED})


@pytest.mark.parametrize(("text", "domains"), [("unlock the front door", ["lock"]), ("把门锁上", ["lock"]),
                                               ("disarm the alarm", ["alarm_control_panel"]),
                                               ("turn on the kitchen lights", []), ("blocked drain", [])])
def test_domains_are_read_from_the_words_before_devices_are_resolved(text: str, domains: list[str]) -> None:
    assert mentioned_domains(text) == domains
