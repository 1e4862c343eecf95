"""Activity events: every decision and command as who, what, where, through which stage and channel.

What the behaviour monitor (edge/guard/monitor.py) observes and checks, built from the pipeline's plans and decisions.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.decision import Decision, DecisionSource, Outcome, Utterance
from shared.envelope import new_id, utcnow

#: Outcomes that mean the request was carried out (or handed to the planner to carry out).
ACCEPTED = frozenset({Outcome.DONE, Outcome.PARTIAL, Outcome.ANSWERED, Outcome.PLANNED})


class ActionRef(BaseModel):
    """One command to one device, as the monitor sees it."""

    model_config = ConfigDict(frozen=True)

    device_id: str
    domain: str
    command: str


class ActivityEvent(BaseModel):
    """One decision or command: who asked, what for, where, through which stage and channel."""

    who: str = Field(default="unknown", description="user id, or 'unknown'")
    intent: str | None = None
    actions: list[ActionRef] = Field(default_factory=list)
    area: str | None = None
    source: str = Field(default=DecisionSource.TEMPLATE.value,
                        description="the deciding stage (template/model/cache/cloud), or 'device' for a keypad")
    channel: str = Field(default="cli", description="the input it came through (Utterance.source)")
    trace_id: str = Field(default_factory=new_id)
    ts: datetime = Field(default_factory=utcnow)
    text: str = ""
    confirmed: bool = Field(default=False, description="the user already confirmed this request")
    accepted: bool = Field(default=True, description="it was carried out; only accepted events teach what is normal")

    @property
    def device_ids(self) -> list[str]:
        """The devices commanded, once each, in order."""
        return list(dict.fromkeys(a.device_id for a in self.actions))

    @property
    def commands(self) -> set[str]:
        """The command names used."""
        return {a.command for a in self.actions}

    @property
    def origin(self) -> str:
        """Channel and side ("app:bob/edge"): edge stages (template, model, cache) count as one."""
        side = "cloud" if self.source == DecisionSource.CLOUD else "edge"
        return f"{self.channel}/{side}"

    def tokens(self) -> list[str]:
        """What the request does, as tokens for the similarity measure."""
        out = [f"intent:{self.intent}"] if self.intent else []
        out += [f"area:{self.area}"] if self.area else []
        for a in self.actions:
            # Intent and device as separate tokens, not (intent, device) pairs: pairs made every familiar command
            # on a familiar device in a new combination look foreign (bench/anomaly.py: more holds, same catch).
            out += [f"cmd:{a.command}", f"dev:{a.device_id}", f"dom:{a.domain}"]
        return out

    @classmethod
    def from_decision(cls, decision: Decision, utterance: Utterance, who: str = "unknown") -> ActivityEvent:
        """A finished decision record, for `observe`."""
        actions = [ActionRef(device_id=a.device_id, domain=a.domain,
                             command=str(a.command.get("name")) if isinstance(a.command, dict) else a.command)
                   for a in decision.actions]
        return cls(who=who, intent=decision.intent, actions=actions, area=utterance.area,
                   source=str(decision.source or DecisionSource.DEGRADED), channel=utterance.source,
                   trace_id=decision.trace_id, ts=decision.ts, text=decision.text, confirmed=utterance.confirmed,
                   accepted=decision.outcome in ACCEPTED)
