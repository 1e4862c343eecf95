"""Context-aware admission: route, queue or shed a request by its priority and the edge's load.

Rules are checked in order; the first whose load condition holds and that names the request's priority decides,
and the decision carries that rule's name. The last rule is a catch-all (the default: route).

Wiring (the daemon): build `SystemLoad` (edge/io/load.py) and run its `run()` under the daemon's TaskGroup so the CPU
reading is never older than `cpu_refresh_s`; call `AdmissionPolicy.decide()` on the event loop (it reads cached
numbers and sorts at most `latency_window` floats); feed `SystemLoad.record_latency()` with the pipeline's own
`latency_ms`, not with time spent waiting for admission, or queueing would raise p95 and keep the edge throttled;
run QUEUE decisions under `Admission.slot(priority, decision.wait_s)` (edge/guard/admission.py) and answer SHED
decisions, and a ShedError from the slot, as busy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from edge.config import (
    Action,
    LoadSample,
    PolicySettings,
    Priority,
)

#: Words that name a domain before the pipeline has resolved any device, so admission can already put a request
#: about a lock or an alarm first ("unlock the front door", "把门锁上", "disarm the alarm", "撤防").
_DOMAIN_WORDS: dict[str, re.Pattern[str]] = {
    "lock": re.compile(r"\b(?:un)?lock(?:ed|s)?\b|\bdeadbolt\b|门锁|锁上|解锁|开锁|上锁", re.I),
    "alarm_control_panel": re.compile(r"\balarm\b|\b(?:dis)?arm\b|警报|报警器|布防|撤防", re.I),
}


def mentioned_domains(text: str) -> list[str]:
    """Domains a request names by its words (before any device is resolved), for `AdmissionPolicy.decide`."""
    return [domain for domain, words in _DOMAIN_WORDS.items() if words.search(text)]


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """What to do with one request, and the rule that said so."""

    action: Action
    rule: str
    priority: Priority
    wait_s: float | None = None  # for QUEUE: the longest it may wait in Admission
    load: LoadSample = field(default_factory=LoadSample)


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
