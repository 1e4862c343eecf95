"""The ports of the edge: what its logic needs from the outside world, owned here by the side that uses it.

Each Protocol has one production adapter under `edge/io/` (named in its docstring), and in-memory versions in the
tests. Data that crosses a port (messages, stored rows, cached decisions, model predictions) is defined here too,
and so are the errors an adapter raises through its port, so the logic never imports an adapter.
Over 300 lines: every port of the edge is in this one module, which is the whole list of what the logic depends on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from shared.decision import Decision, DecisionSource
from shared.errors import AutoGLMError, TransportError
from shared.plan import Plan, PlanResponse, PlanStatus

#: Sends one event of this edge (type, payload, trace id) to the cloud through the outbox (Uplink.event).
EventSink = Callable[[str, dict[str, Any], str | None], Coroutine[Any, Any, None]]
#: A device's reported values by device id (the decision cache fingerprints them).
TwinValues = Callable[[str], Mapping[str, Any]]


@dataclass(slots=True)
class Message:
    """An inbound message; call `ack()` once it is handled (QoS 1 is acknowledged after commit)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    _ack: Callable[[], None] = field(default=lambda: None, repr=False)
    dup: bool = False  # the broker sends it again: an earlier delivery was not acknowledged
    mid: int = 0  # the packet id (QoS 1): a redelivery carries the id of the first delivery

    def ack(self) -> None:
        """Acknowledge to the broker (no-op for QoS 0); safe to call twice."""
        ack, self._ack = self._ack, lambda: None
        ack()


class Bus(Protocol):
    """What the edge needs from a broker connection."""

    @property
    def connected(self) -> bool: ...

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None: ...

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None: ...

    async def unsubscribe(self, topic_filter: str) -> None: ...

    def messages(self) -> AsyncIterator[Message]: ...


@dataclass(frozen=True, slots=True)
class StoredDevice:
    """A registry row as stored."""

    device_id: str
    component: str
    config: dict[str, Any]
    discovery_topic: str
    available: bool | None


@dataclass(frozen=True, slots=True)
class TwinRow:
    """One property of one device's twin."""

    device_id: str
    prop: str
    reported: Any
    reported_version: int
    desired: Any
    desired_version: int


@dataclass(frozen=True, slots=True)
class Pending:
    """One message waiting for the broker's acknowledgement."""

    seq: int
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class DroppedReport:
    """Messages the overflow policy dropped and the cloud has not been told about: counts per topic."""

    by_topic: dict[str, int]
    last_seq: int  # the newest dropped message's sequence number: names this report

    @property
    def count(self) -> int:
        """Messages dropped in all."""
        return sum(self.by_topic.values())


@dataclass(frozen=True, slots=True)
class Versions:
    """What produced a decision; a different value anywhere is a miss. Empty string: not involved."""

    template: str = ""
    model: str = ""
    planner: str = ""
    registry: str = ""  # a digest of the device registry (names, areas) the text was resolved against


@dataclass(frozen=True, slots=True)
class CachedDecision:
    """What replaying needs: the intent and its slots, the stage that decided, and a cloud plan if any."""

    intent: str
    slots: dict[str, Any]
    source: DecisionSource
    spoken: dict[str, str] = field(default_factory=dict)
    confidence: float | None = None
    plan: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SlotSpan:
    """A tagged span: slot type and the exact characters of the input."""

    slot: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Prediction:
    """The model's reading of one sentence, with calibrated confidence."""

    label: str
    confidence: float
    spans: tuple[SlotSpan, ...]


#: Statuses that say the cloud is busy or broken rather than that this request is wrong.
_RETRYABLE: Final = frozenset({408, 429})


_HINTS: Final = {401: " (check this edge's token, edge.cloud.token)",
                 403: " (the token must be this edge's own edge credential)"}


class CloudError(AutoGLMError):
    """The cloud planner gave no usable plan; the edge answers with a degraded reply."""

    code = "cloud_error"


class CloudUnreachableError(CloudError, TransportError):
    """No connection to the cloud (DNS, refused, reset, TLS)."""

    code = "cloud_unreachable"


class CloudTimeoutError(CloudError, TransportError):
    """The cloud did not answer within the deadline."""

    code = "cloud_timeout"


class CloudUnavailableError(CloudError, TransportError):
    """The breaker is open after repeated failures: the cloud was not asked."""

    code = "cloud_unavailable"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CloudBadResponseError(CloudError):
    """A 2xx answer that is not a valid plan response."""

    code = "cloud_bad_response"


class CloudRejectedError(CloudError):
    """A non-2xx answer; `status` and the server's error `server_code` (None when the body had none)."""

    code = "cloud_rejected"

    def __init__(self, status: int, *, server_code: str | None, message: str,
                 retry_after_s: float | None = None) -> None:
        self.status = status
        self.server_code = server_code
        self.retry_after_s = retry_after_s
        code = f" {server_code}" if server_code else ""
        super().__init__(f"the cloud refused the request: HTTP {status}{code}: {message}{_HINTS.get(status, '')}")

    @property
    def retryable(self) -> bool:
        """True when the cloud is busy or broken (408, 429, 5xx), not this request wrong."""
        return self.status in _RETRYABLE or self.status >= 500


def counts_against_cloud(exc: BaseException) -> bool:
    """Whether a failed plan call says the cloud is unwell (the breaker's failure predicate)."""
    return not isinstance(exc, CloudRejectedError) or exc.retryable


class CloudPlanner(Protocol):
    """The cloud as the edge's fallback sees it (CloudClient in production)."""

    async def plan(self, text: str, *, language: str = "en", trace_id: str | None = None) -> PlanResponse:
        """A validated plan for `text` over this edge's devices."""
        ...

    async def run(self, plan_id: str, *, confirm: bool = False, trace_id: str | None = None) -> PlanStatus:
        """Start a proposed plan; sensitive plans need `confirm`."""
        ...

    async def plan_of(self, plan_id: str, *, trace_id: str | None = None) -> PlanResponse:
        """A plan the cloud proposed, as it stands now."""
        ...

    @property
    def ready(self) -> bool:
        """False while the breaker is open or half-open: do not make a user wait for the cloud."""
        ...

    async def probe(self) -> None:
        """A cheap call that lets a half-open breaker close again."""
        ...


class PlanMemory(Protocol):
    """Where cloud plans are kept for offline replay (the decision cache in production)."""

    async def remember(self, text: str, language: str, plan: Plan) -> None:
        """Keep the plan the cloud made for these words."""
        ...

    async def recall(self, text: str, language: str) -> Plan | None:
        """The plan the cloud made for these words before, if any is still valid."""
        ...


class DeviceStore(Protocol):
    """Discovered devices kept across restarts (EdgeStore, `edge.db`)."""

    async def devices(self) -> list[StoredDevice]:
        """Every stored device config."""
        ...

    async def upsert_device(self, device: StoredDevice) -> None:
        """Add or replace one device config."""
        ...

    async def remove_device(self, device_id: str) -> None:
        """Forget a device and its twin."""
        ...

    async def set_available(self, device_id: str, available: bool) -> None:
        """Keep the device's availability."""
        ...


class TwinStore(Protocol):
    """Per-property reported and desired values with versions (EdgeStore, `edge.db`)."""

    async def twin(self, device_id: str | None = None) -> list[TwinRow]:
        """The twin rows of one device, or of all."""
        ...

    async def apply_reported(self, device_id: str, values: dict[str, Any], mark: str | None = None) -> dict[str, int]:
        """Commit reported values (and the redelivery mark of the message that carried them); changed versions."""
        ...

    async def applied(self, mark: str) -> bool:
        """Whether the state message named by `mark` was committed before."""
        ...

    async def apply_desired(self, device_id: str, values: dict[str, Any],
                            versions: dict[str, int] | None = None) -> dict[str, int]:
        """Commit desired values (and the cloud's versions) in one transaction."""
        ...

    async def accepted_versions(self) -> dict[tuple[str, str], int]:
        """The cloud's desired version accepted per (device, property)."""
        ...


class DecisionStore(Protocol):
    """The local record of every decision (EdgeStore, `edge.db`)."""

    async def add_decision(self, decision: Decision) -> None:
        """Keep one decision record; StorageError when the disk cannot take it."""
        ...


class MessageQueue(Protocol):
    """A durable FIFO of messages that leave only once delivered (Outbox, SQLite). Blocking: call in a thread."""

    def __len__(self) -> int: ...

    @property
    def max_messages(self) -> int:
        """The bound; beyond it the oldest messages are dropped and counted."""
        ...

    def put(self, topic: str, payload: bytes) -> int:
        """Queue one message; its sequence number."""
        ...

    def put_many(self, messages: Sequence[tuple[str, bytes]]) -> int:
        """Queue several messages in one commit."""
        ...

    def peek(self, limit: int = 100) -> list[Pending]:
        """The oldest messages, in order, without removing them."""
        ...

    def ack(self, seq: int, topic: str | None = None) -> None:
        """Remove one delivered message."""
        ...

    def ack_many(self, sent: Sequence[tuple[int, str | None]]) -> None:
        """Remove delivered messages in one commit."""
        ...

    def dropped_report(self) -> DroppedReport | None:
        """What the overflow policy dropped since the last report, if anything."""
        ...

    def clear_dropped(self, report: DroppedReport) -> None:
        """Forget the drops a delivered report named."""
        ...

    def close(self) -> None: ...


class DecisionMemory(Protocol):
    """Decisions kept by their words and what they depend on (DecisionCache, `decisions.db`). Blocking."""

    def get(self, text: str, language: str, versions: Versions) -> CachedDecision | None:
        """The decision kept for these words under these versions, if still valid."""
        ...

    def put(self, text: str, language: str, versions: Versions, device_ids: Iterable[str],
            decision: CachedDecision) -> object:
        """Keep a decision, fingerprinted on the twins of `device_ids`."""
        ...

    def invalidate_versions(self, current: Versions) -> int:
        """Drop what was decided under other versions; how many rows went."""
        ...

    def close(self) -> None: ...


class IntentClassifier(Protocol):
    """The distilled intent model (IntentModel, an ONNX Runtime session)."""

    @property
    def version(self) -> str:
        """The model version from its manifest."""
        ...

    @property
    def model_dir(self) -> Path:
        """The directory it was loaded from."""
        ...

    def predict(self, text: str) -> Prediction:
        """Intent, slot spans and calibrated confidence for one sentence."""
        ...

    def threshold(self, high_risk: bool) -> float:
        """The confidence a prediction needs to act locally."""
        ...


#: Loads a model directory (with this many ONNX threads); raises ModelError with the reason when it cannot.
ModelLoader = Callable[[Path, int], IntentClassifier]
