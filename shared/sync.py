"""Twin-sync messages between an edge and the cloud: envelope types and payloads (DESIGN.md §3).

Every message below travels inside an `Envelope` (its `id` de-duplicates, its `trace_id` follows the
change), except the edge status, which is a plain retained JSON object so the broker's last will can
carry it.

| type                | channel        | direction     | payload        |
| ------------------- | -------------- | ------------- | -------------- |
| twin.reported       | twin/reported  | edge -> cloud | TwinDelta      |
| twin.reported.full  | twin/reported  | edge -> cloud | FullTwin       |
| twin.resync         | twin/reported  | edge -> cloud | {} (send me the desired document) |
| twin.desired        | twin/desired   | cloud -> edge | TwinDelta      |
| twin.desired.full   | twin/desired   | cloud -> edge | FullTwin       |
| twin.resync         | twin/desired   | cloud -> edge | {} (send me the reported document) |
| device.command      | twin/desired   | cloud -> edge | DeviceCommand (momentary actions with no state) |
| twin.applied        | events         | edge -> cloud | ApplyResult    |
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.twin import TwinDelta


class SyncType(StrEnum):
    """The `type` of a twin-sync envelope."""

    REPORTED = "twin.reported"
    REPORTED_FULL = "twin.reported.full"
    DESIRED = "twin.desired"
    DESIRED_FULL = "twin.desired.full"
    RESYNC = "twin.resync"
    COMMAND = "device.command"
    APPLIED = "twin.applied"


class EdgeEvent(StrEnum):
    """The `type` of an event an edge sends on its events channel (the cloud audits every `edge.` event)."""

    DECISION = "edge.decision"  # a decision record: who, what, where, source, outcome, trace_id
    ALERT = "edge.alert"  # a behaviour-monitor alert: a burst, a held sensitive sequence, an unusual unlock
    NOTIFY = "edge.notify"  # a `notify` step of a plan the edge ran while the cloud was away
    CLOUD_BREAKER = "edge.cloud_breaker"  # the edge's circuit breaker to the cloud changed state
    OUTBOX_OVERFLOW = "edge.outbox_overflow"  # messages the outbox's overflow policy dropped, counted per topic


#: Every edge event starts with this (the cloud's audit log takes them all).
EDGE_EVENT_PREFIX: Final = "edge."


class DeviceInfo(BaseModel):
    """What the edge learned about a device from discovery, so the cloud's fleet view can list it."""

    device_id: str = Field(min_length=1, max_length=128)
    domain: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=256)
    area: str | None = Field(default=None, max_length=256)
    device_class: str | None = Field(default=None, max_length=64)
    available: bool | None = None


class FullTwin(BaseModel):
    """One side of every device twin an edge holds (sent on re-sync); `devices` only on the reported side."""

    side: Literal["desired", "reported"]
    twins: list[TwinDelta] = Field(default_factory=list)
    devices: list[DeviceInfo] = Field(default_factory=list)


class DeviceCommand(BaseModel):
    """A momentary action with no twin state to converge on (stop a cover, next track)."""

    device_id: str = Field(min_length=1, max_length=128)
    command: str = Field(min_length=1, max_length=64, description="the edge's command name, e.g. 'stop'")
    value: Any = None
    expires_at: AwareDatetime | None = Field(default=None, description="after this the edge refuses it (outcome "
                                        "'expired'): a command queued while the edge was away must not run late")


class ApplyResult(BaseModel):
    """How an edge's attempt to apply a desired change or command ended (an edge Outcome value)."""

    device_id: str = Field(min_length=1, max_length=128)
    outcome: str = Field(min_length=1, max_length=32)
    detail: str | None = None
    props: list[str] = Field(default_factory=list, description="desired properties the edge commanded")


class EdgeStatus(BaseModel):
    """Retained on `status`: the edge's birth, heartbeats (with `heartbeat_s`), and its last will."""

    model_config = ConfigDict(extra="allow")

    state: Literal["online", "offline"]
    edge_id: str | None = None
    ts: datetime | None = None
    heartbeat_s: float | None = Field(default=None, gt=0, description="promised interval of the next heartbeat")
