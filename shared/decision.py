"""Utterances in, decision records out: what the edge decided, how, and what came of it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from shared.envelope import new_id, utcnow

MAX_UTTERANCE_CHARS = 1000


class DecisionSource(StrEnum):
    """The stage that produced a decision."""

    CACHE = "cache"
    TEMPLATE = "template"
    MODEL = "model"
    CLOUD = "cloud"
    DEGRADED = "degraded"


class Outcome(StrEnum):
    """How a request ended."""

    DONE = "done"  # every device confirmed
    ANSWERED = "answered"  # a question, answered from the twins
    PARTIAL = "partial"  # some devices confirmed, some did not
    TIMEOUT = "timeout"  # a device did not confirm in time
    UNAVAILABLE = "unavailable"  # the device says it is offline
    REJECTED = "rejected"  # the device refused the value
    UNKNOWN_DEVICE = "unknown_device"
    AMBIGUOUS = "ambiguous"
    UNSUPPORTED = "unsupported"
    NEEDS_CONFIRMATION = "needs_confirmation"
    NOT_UNDERSTOOD = "not_understood"
    DEFERRED = "deferred"  # understood, but tied to a time or an event: for the cloud planner, not done now
    PLANNED = "planned"  # handed to the cloud planner, whose plan is running (device results follow as events)
    RATE_LIMITED = "rate_limited"  # the behaviour monitor saw a burst from this user or on this device
    BUSY = "busy"  # shed by the admission policy under load: try again shortly
    QUEUED = "queued"  # needs the cloud, which is unreachable: kept, and run when it is back (unless expired)
    CLOUD_UNAVAILABLE = "cloud_unavailable"  # needed the cloud, which is unreachable, slow or overloaded
    EXPIRED = "expired"  # a cloud command that arrived after its expiry: refused, not executed
    SUPERSEDED = "superseded"  # a desired value older than one the edge already accepted: refused, not applied
    ERROR = "error"


class Utterance(BaseModel):
    """A text command entering the edge (from the CLI, a satellite, or the cloud)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    trace_id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=MAX_UTTERANCE_CHARS)
    language: str | None = Field(default=None, pattern="^(en|zh-cn)$")
    source: str = Field(default="cli", min_length=1, max_length=128)
    user: str | None = Field(default=None, max_length=128, description="who spoke, when the satellite knows")
    area: str | None = Field(default=None, max_length=128, description="the satellite's area, if known")
    confirm_token: str | None = Field(default=None, max_length=64,
                                      description="confirms the held request this token was issued for")
    ts: datetime = Field(default_factory=utcnow)
    # Set only by redeeming a confirmation token (`confirmed_by_token`), never from the wire: whoever can publish
    # an utterance could otherwise skip every confirmation.
    _confirmed: bool = PrivateAttr(default=False)
    _held_plan_id: str | None = PrivateAttr(default=None)
    _held_plan_digest: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _not_confirmed_by_the_sender(cls, data: Any) -> Any:
        if isinstance(data, dict) and "confirmed" in data:
            if data["confirmed"] is not False:
                raise ValueError("'confirmed' cannot be sent: confirm a held request by sending back the "
                                 "confirm_token of its decision")
            data = {k: v for k, v in data.items() if k != "confirmed"}
        return data

    @property
    def confirmed(self) -> bool:
        """True only for a held request whose confirmation token was redeemed."""
        return self._confirmed

    @property
    def held_plan(self) -> tuple[str | None, str | None]:
        """(plan_id, plan digest) of the cloud plan the user confirmed; (None, None) for a local request."""
        return self._held_plan_id, self._held_plan_digest

    def confirmed_by_token(self, *, plan_id: str | None = None, plan_digest: str | None = None) -> Utterance:
        """This utterance confirmed (for exactly the plan `plan_id`/`plan_digest` where one was held)."""
        copy = self.model_copy(update={"confirm_token": None})
        copy._confirmed, copy._held_plan_id, copy._held_plan_digest = True, plan_id, plan_digest
        return copy

    @field_validator("language", mode="before")
    @classmethod
    def _lowercase_language(cls, value: Any) -> Any:
        # BCP 47 tags are case-insensitive: "zh-CN", as users and the design write it, is "zh-cn".
        return value.lower() if isinstance(value, str) else value


class DeviceAction(BaseModel):
    """One command sent to one device, with the state that confirms it."""

    device_id: str
    name: str
    domain: str
    command: dict[str, Any] | str
    expect: dict[str, Any] = Field(default_factory=dict)
    outcome: Outcome | None = None
    detail: str | None = None
    latency_ms: float | None = None
    timeout_s: float | None = Field(default=None, description="with outcome timeout: how long the device had")


class Decision(BaseModel):
    """The record of one handled utterance, published on the edge's `decisions` channel."""

    id: str = Field(default_factory=new_id)
    utterance_id: str
    trace_id: str
    edge_id: str
    text: str
    language: str
    source: DecisionSource | None = None
    model_version: str | None = None
    intent: str | None = None
    slots: dict[str, Any] = Field(default_factory=dict)
    user: str | None = None  # who asked, when the satellite or app says
    when: str | None = None  # the words tying the request to a time or an event ("at one pm today")
    plan_id: str | None = None  # the cloud plan that answers it (source `cloud`)
    plan_digest: str | None = None  # with needs_confirmation for a plan: the plan a confirmation goes ahead with
    held_by: str | None = None  # the behaviour-monitor rule that held or limited it ("rate:device", ...)
    confirm_token: str | None = None  # with needs_confirmation: send it back (single use) to go ahead
    confirm_ttl_s: float | None = None  # how long the token is valid
    policy_rule: str | None = None  # the admission rule that applied (`default` when the edge is not loaded)
    actions: list[DeviceAction] = Field(default_factory=list)
    outcome: Outcome
    reply: str
    latency_ms: float
    stages_ms: dict[str, float] = Field(default_factory=dict)
    ts: datetime = Field(default_factory=utcnow)
