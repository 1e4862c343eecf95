"""Context-aware admission: route, queue or shed a request by its priority and the edge's load.

Rules are checked in order; the first whose load condition holds and that names the request's priority decides,
and the decision carries that rule's name. The last rule is a catch-all (the default: route).

Wiring (the daemon): build `SystemLoad` (edge/load.py) and run its `run()` under the daemon's TaskGroup so the CPU
reading is never older than `cpu_refresh_s`; call `AdmissionPolicy.decide()` on the event loop (it reads cached
numbers and sorts at most `latency_window` floats); feed `SystemLoad.record_latency()` with the pipeline's own
`latency_ms`, not with time spent waiting for admission, or queueing would raise p95 and keep the edge throttled;
run QUEUE decisions under `Admission.slot(priority, decision.wait_s)` (edge/admission.py) and answer SHED
decisions, and a ShedError from the slot, as busy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Priority(StrEnum):
    """How much a request matters when the edge is short of capacity."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for high: sorts first."""
        return _RANK[self]


_RANK = {Priority.HIGH: 0, Priority.NORMAL: 1, Priority.LOW: 2}


class Action(StrEnum):
    """What admission does with a request."""

    ROUTE = "route"  # run it now, as without a policy
    QUEUE = "queue"  # run it under Admission: limited concurrency, high priority first, shed after wait_s
    SHED = "shed"  # refuse it at once (answer "busy")


#: Locks and alarms stay responsive under load; settings add to these rather than replace them.
DEFAULT_DEVICE_PRIORITIES: dict[str, Priority] = {"lock": Priority.HIGH, "alarm_control_panel": Priority.HIGH}


#: Words that name a domain before the pipeline has resolved any device, so admission can already put a request
#: about a lock or an alarm first ("unlock the front door", "把门锁上", "disarm the alarm", "撤防").
_DOMAIN_WORDS: dict[str, re.Pattern[str]] = {
    "lock": re.compile(r"\b(?:un)?lock(?:ed|s)?\b|\bdeadbolt\b|门锁|锁上|解锁|开锁|上锁", re.I),
    "alarm_control_panel": re.compile(r"\balarm\b|\b(?:dis)?arm\b|警报|报警器|布防|撤防", re.I),
}


def mentioned_domains(text: str) -> list[str]:
    """Domains a request names by its words (before any device is resolved), for `AdmissionPolicy.decide`."""
    return [domain for domain, words in _DOMAIN_WORDS.items() if words.search(text)]


class PolicyRule(BaseModel):
    """When the load condition holds (all given thresholds exceeded), act on the priorities listed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    cpu_above: float | None = Field(default=None, description="CPU busy share of all cores, 0-1 (0.8 = 80%)")
    p95_latency_ms_above: float | None = Field(default=None, gt=0, description="p95 decision latency, ms")
    actions: dict[Priority, Action] = Field(min_length=1, description="the priorities it applies to, and what to do")
    wait_s: float = Field(default=2.0, gt=0, description="longest a queued request waits before it is shed")

    @field_validator("cpu_above")
    @classmethod
    def _cpu_is_a_fraction(cls, value: float | None) -> float | None:
        if value is not None and not 0 <= value < 1:
            raise ValueError(f"cpu_above is a fraction of all cores between 0 and 1 (0.8 for 80%), not {value:g}")
        return value

    @model_validator(mode="after")
    def _high_is_never_shed(self) -> Self:
        if self.actions.get(Priority.HIGH) is Action.SHED:
            raise ValueError(f"rule {self.name!r} sheds high-priority work; high priority may only queue or route")
        return self

    @property
    def unconditional(self) -> bool:
        """True when the rule holds whatever the load."""
        return self.cpu_above is None and self.p95_latency_ms_above is None

    def holds(self, load: LoadSample) -> bool:
        """Every threshold the rule sets is exceeded; an unknown signal exceeds nothing."""
        if self.cpu_above is not None and (load.cpu is None or load.cpu <= self.cpu_above):
            return False
        p95 = load.p95_latency_ms
        return self.p95_latency_ms_above is None or (p95 is not None and p95 > self.p95_latency_ms_above)


def default_rules() -> list[PolicyRule]:
    """The reference deployment's rules: shed low and queue normal above 80% CPU or 500 ms p95, else route."""
    overload = {Priority.LOW: Action.SHED, Priority.NORMAL: Action.QUEUE}
    return [PolicyRule(name="overload_cpu", cpu_above=0.8, actions=overload),
            PolicyRule(name="overload_latency", p95_latency_ms_above=500.0, actions=overload),
            PolicyRule(name="default", actions=dict.fromkeys(Priority, Action.ROUTE))]


class PolicySettings(BaseModel):
    """Admission rules, who and what is high priority, and how load is measured."""

    model_config = ConfigDict(extra="forbid")

    rules: list[PolicyRule] = Field(default_factory=default_rules, min_length=1,
                                    description="checked in order; the last must apply to every priority, always")
    user_priorities: dict[str, Priority] = Field(default_factory=dict, description="user id -> priority")
    device_priorities: dict[str, Priority] = Field(default_factory=lambda: dict(DEFAULT_DEVICE_PRIORITIES),
                                                   description="device id or domain -> priority")
    source_priorities: dict[str, Priority] = Field(default_factory=dict,
                                                   description="utterance source (cli, a satellite) -> priority")
    default_priority: Priority = Priority.NORMAL
    cpu_refresh_s: float = Field(default=1.0, gt=0, description="how often the CPU reading is refreshed")
    latency_window: int = Field(default=200, ge=1, description="recent decision latencies the p95 is taken over")
    latency_max_age_s: float = Field(default=60.0, gt=0, description="latencies older than this leave the window")
    latency_min_samples: int = Field(default=20, ge=1, description="latencies needed before p95 counts")
    queue_concurrency: int = Field(default=4, ge=1, description="queued requests that run at once")
    queue_max_waiting: int = Field(default=256, ge=1, description="queued requests waiting; beyond it the lowest "
                                                                  "priority is shed")

    @field_validator("device_priorities")
    @classmethod
    def _keep_default_devices(cls, value: dict[str, Priority]) -> dict[str, Priority]:
        # A settings file that names one device must not silently drop locks and alarms to normal.
        return {**DEFAULT_DEVICE_PRIORITIES, **value}

    @model_validator(mode="after")
    def _rules_cover_everything(self) -> Self:
        names = [rule.name for rule in self.rules]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"rule names must be unique (each decision names its rule): {', '.join(duplicates)}")
        last = self.rules[-1]
        if not last.unconditional or set(last.actions) != set(Priority):
            raise ValueError(f"the last rule ({last.name!r}) must have no load condition and act on every priority"
                             " (high, normal, low), so that every request meets a rule")
        for index, rule in enumerate(self.rules[:-1]):
            if rule.unconditional and set(rule.actions) == set(Priority):
                raise ValueError(f"rule {rule.name!r} applies always, so the rules after it are never reached: "
                                 f"{', '.join(names[index + 1:])}")
        return self


@dataclass(frozen=True, slots=True)
class LoadSample:
    """The load signals a decision was made on; None: not known (yet)."""

    cpu: float | None = None  # busy share of all cores, 0-1
    p95_latency_ms: float | None = None


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """What to do with one request, and the rule that said so."""

    action: Action
    rule: str
    priority: Priority
    wait_s: float | None = None  # for QUEUE: the longest it may wait in Admission
    load: LoadSample = LoadSample()


class LoadSignals(Protocol):
    """The edge's current load, as the policy reads it."""

    def sample(self) -> LoadSample:
        """The latest signals, without blocking."""
        ...

    def record_latency(self, ms: float) -> None:
        """Add one decision's latency to the p95 window."""
        ...


class AdmissionPolicy:
    """Pure rule evaluation: the request's priority and the load signals in, a PolicyDecision out."""

    def __init__(self, settings: PolicySettings, load: LoadSignals) -> None:
        self.settings = settings
        self._load = load

    def priority(self, who: str | None = None, devices: Iterable[str] = (), source: str | None = None) -> Priority:
        """The highest priority any of user, devices (ids or domains) or source has; the default if none has one."""
        s = self.settings
        if isinstance(devices, str):  # one id passed bare would otherwise be read letter by letter
            devices = (devices,)
        found = [s.user_priorities.get(who) if who else None, s.source_priorities.get(source) if source else None,
                 *(s.device_priorities.get(d) for d in devices)]
        known = [p for p in found if p is not None]
        return min(known, key=lambda p: p.rank) if known else s.default_priority

    def decide(self, who: str | None = None, devices: Iterable[str] = (), source: str | None = None
               ) -> PolicyDecision:
        """Route, queue or shed a request from `who` touching `devices` (ids and/or domains) via `source`."""
        priority = self.priority(who, devices, source)
        load = self._load.sample()
        for rule in self.settings.rules:
            action = rule.actions.get(priority)
            if action is not None and rule.holds(load):
                wait_s = rule.wait_s if action is Action.QUEUE else None
                return PolicyDecision(action, rule.name, priority, wait_s, load)
        raise AssertionError("unreachable: PolicySettings requires a catch-all last rule")
