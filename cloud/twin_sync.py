"""Twin sync with the edges over MQTT: reported state in (version-checked), desired deltas out, re-sync on reconnect.

Conflict policy (DESIGN.md §3): the cloud wins on desired, the device wins on reported; each conflict is
recorded as an event. Edge liveness comes from the retained `status` topic: birth, heartbeats, last will.
Edge events (`edge.*`: decisions, alerts, breaker changes, outbox overflow reports) go to the audit log, once per
message id: an edge's outbox re-sends what it sent just before a crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from cloud.bus import BusMessage, CloudBus
from cloud.fleet import Device
from cloud.store import EdgeRecord, MergeResult, TwinRecord
from shared.codec import decode, encode, validate
from shared.envelope import Envelope, new_id, utcnow
from shared.errors import AutoGLMError, ContractError, NotFoundError, TransportError
from shared.rollout import ACTIVATED_EVENT, REJECTED_EVENT
from shared.sync import EDGE_EVENT_PREFIX, ApplyResult, DeviceCommand, DeviceInfo, EdgeStatus, FullTwin, SyncType
from shared.topics import EdgeChannel, edge_filter, edge_topic, parse_edge_topic
from shared.twin import TwinDelta, TwinValue

log = logging.getLogger(__name__)

#: Missing this many promised heartbeats marks an edge offline.
HEARTBEAT_GRACE = 3
#: The edge's answers to model roll-out orders, kept in the audit log too (`GET /v1/audit?action=model.activated`).
MODEL_EVENTS = frozenset({ACTIVATED_EVENT, REJECTED_EVENT})


class TwinStore(Protocol):
    """The part of cloud.store.Store the twin sync needs (SqliteStore satisfies it; a Postgres store can follow)."""

    async def get_edge(self, edge_id: str) -> EdgeRecord | None:
        """One registered edge."""
        ...

    async def set_edge_status(self, edge_id: str, online: bool, ts: datetime) -> EdgeRecord:
        """Record an edge going online or offline; NotFoundError for an unregistered edge."""
        ...

    async def upsert_device(self, device: Device) -> None:
        """Insert or update a device an edge announced."""
        ...

    async def get_device(self, device_id: str) -> Device | None:
        """One device."""
        ...

    async def list_devices(self, *, edge_id: str | None = None) -> list[Device]:
        """Devices of one edge."""
        ...

    async def twin(self, device_id: str) -> TwinRecord | None:
        """A device's whole twin."""
        ...

    async def merge_reported(self, device_id: str, values: Mapping[str, TwinValue]) -> MergeResult:
        """Keep each value whose version is newer than the stored one; report the rest as stale."""
        ...

    async def set_desired(self, device_id: str, values: Mapping[str, Any], expected_version: int | None) -> int:
        """Set desired values; ConflictError when `expected_version` is not current. Returns the new version."""
        ...

    async def record(self, *, actor: str, action: str, target: str, trace_id: str,
                     detail: dict[str, Any] | None = None) -> None:
        """Append an audit entry (conflicts, missed heartbeats)."""
        ...


def reported_of(record: TwinRecord | None) -> dict[str, TwinValue]:
    """The reported side of a twin, per property."""
    props = record.document.properties if record else {}
    return {k: p.reported for k, p in props.items() if p.reported is not None}


def desired_of(record: TwinRecord | None) -> dict[str, TwinValue]:
    """The desired side of a twin, per property."""
    props = record.document.properties if record else {}
    return {k: p.desired for k, p in props.items() if p.desired is not None}


class TwinListener(Protocol):
    """Told about reported changes and edge results (the commander waits on these)."""

    def reported(self, device_id: str, values: dict[str, Any]) -> None:
        """A device's reported values after a merge."""
        ...

    def applied(self, edge_id: str, result: ApplyResult, trace_id: str) -> None:
        """An edge's result for a desired change or command."""
        ...


@dataclass(slots=True)
class EdgeLink:
    """What this process knows about one edge's connection."""

    online: bool | None = None
    last_seen: float = 0.0
    heartbeat_s: float | None = None
    offline_since: datetime | None = None
    last_asked: float = float("-inf")


class TwinSync:
    """Keeps the cloud store's twins in step with every edge on the bus."""

    def __init__(self, bus: CloudBus, store: TwinStore, *, source: str = "cloud", seen_ids: int = 4096,
                 watchdog_s: float = 1.0, ask_every_s: float = 10.0, command_ttl_s: float = 60.0,
                 dedup: bool = True) -> None:
        """`dedup` is a safeguard only a negative control switches off: without it an envelope an edge sends again
        (its outbox re-sends what it sent just before a crash) is applied and audited again."""
        self._bus = bus
        self._dedup = dedup
        self._command_ttl_s = command_ttl_s
        self._store = store
        self._source = source
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_max = seen_ids
        self._watchdog_s = watchdog_s
        self._ask_every_s = ask_every_s
        self._edges: dict[str, EdgeLink] = {}
        self._listeners: list[TwinListener] = []
        self.stats: Counter[str] = Counter()  # applied, stale, malformed, duplicate, conflicts, ...

    @property
    def bus(self) -> CloudBus:
        """The bus this sync publishes on (the commander shares it)."""
        return self._bus

    def add_listener(self, listener: TwinListener) -> None:
        """Register a listener for reported changes and edge results."""
        self._listeners.append(listener)

    def edge_online(self, edge_id: str) -> bool | None:
        """True/False once the edge's status is known, else None."""
        link = self._edges.get(edge_id)
        return link.online if link else None

    async def start(self) -> None:
        """Subscribe to every edge's reported twin, status and events."""
        for channel in (EdgeChannel.STATUS, EdgeChannel.TWIN_REPORTED, EdgeChannel.EVENTS):
            await self._bus.subscribe(edge_filter(channel))

    async def run(self) -> None:
        """Route inbound messages and watch heartbeats until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._watch_heartbeats())
            async for message in self._bus.messages():
                await self.handle(message)

    async def handle(self, message: BusMessage) -> None:
        """Handle one message; a bad one is counted and logged, never fatal."""
        try:
            topic = parse_edge_topic(message.topic)
            if topic.channel is EdgeChannel.STATUS:
                await self._on_status(topic.edge_id, message.payload)
            elif topic.channel in (EdgeChannel.TWIN_REPORTED, EdgeChannel.EVENTS):
                await self._on_envelope(topic.edge_id, decode(Envelope, message.payload))
        except ContractError as exc:
            self.stats["malformed"] += 1
            log.warning("twin message rejected", extra={"topic": message.topic, "reason": str(exc), "code": exc.code})
        except AutoGLMError as exc:
            self.stats["failed"] += 1
            log.warning("twin message not handled", extra={"topic": message.topic, "reason": str(exc),
                                                           "code": exc.code})

    # status and liveness
    async def _on_status(self, edge_id: str, payload: bytes) -> None:
        if not payload:  # a cleared retained status
            return
        status = decode(EdgeStatus, payload)
        link = self._edges.setdefault(edge_id, EdgeLink())
        link.last_seen = asyncio.get_running_loop().time()
        link.heartbeat_s = status.heartbeat_s
        await self._set_online(edge_id, link, status.state == "online", "status")

    async def _set_online(self, edge_id: str, link: EdgeLink, online: bool, reason: str) -> None:
        was = link.online
        link.online = online
        if was == online:
            return
        now = utcnow()
        try:
            await self._store.set_edge_status(edge_id, online, now)
        except NotFoundError:  # MQTT lets it in, but nobody registered it: track it, store nothing
            self.stats["unregistered_edge"] += 1
        log.info("edge online" if online else "edge offline", extra={"edge_id": edge_id, "reason": reason})
        if not online:
            link.offline_since = now
        else:  # first sighting in this process, or back after an outage: converge both sides
            await self.resync(edge_id)

    async def _watch_heartbeats(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._watchdog_s)
            for edge_id, link in list(self._edges.items()):
                overdue = link.heartbeat_s and loop.time() - link.last_seen > HEARTBEAT_GRACE * link.heartbeat_s
                if link.online and overdue:
                    self.stats["heartbeat_missed"] += 1
                    await self._audit("edge.heartbeat_missed", f"edge:{edge_id}", edge_id, new_id(),
                                      {"heartbeat_s": link.heartbeat_s})
                    await self._set_online(edge_id, link, False, "heartbeat missed")

    # inbound envelopes
    def _first_time(self, message_id: str) -> bool:
        if not self._dedup:
            return True
        if message_id in self._seen:
            return False
        self._seen[message_id] = None
        if len(self._seen) > self._seen_max:
            self._seen.popitem(last=False)
        return True

    async def _on_envelope(self, edge_id: str, envelope: Envelope) -> None:
        if not self._first_time(envelope.id):
            self.stats["duplicate"] += 1
            return
        kind = envelope.type
        if kind == SyncType.REPORTED:
            await self._merge(edge_id, validate(TwinDelta, envelope.payload), envelope.trace_id, resync=False)
        elif kind == SyncType.REPORTED_FULL:
            await self._on_full(edge_id, validate(FullTwin, envelope.payload), envelope.trace_id)
        elif kind == SyncType.RESYNC:
            await self.resync(edge_id, envelope.trace_id, ask_reported=False)
        elif kind == SyncType.APPLIED:
            result = validate(ApplyResult, envelope.payload)
            for listener in self._listeners:
                listener.applied(edge_id, result, envelope.trace_id)
        elif kind.startswith(EDGE_EVENT_PREFIX) or kind in MODEL_EVENTS:  # decisions, alerts, breaker, overflow
            self.stats["events"] += 1
            await self._audit(kind, f"edge:{edge_id}", edge_id, envelope.trace_id,
                              {"message_id": envelope.id, "source": envelope.source, **envelope.payload})
        else:
            self.stats["ignored"] += 1

    async def _on_full(self, edge_id: str, full: FullTwin, trace_id: str) -> None:
        if full.side != "reported":
            raise ContractError("an edge may only send its reported document")
        if full.devices:
            edge = await self._store.get_edge(edge_id)
            if edge is None:
                self.stats["unregistered_edge"] += 1
                log.warning("devices of an unregistered edge ignored", extra={"edge_id": edge_id})
                return
            for info in full.devices:
                await self._register(edge, info)
        for delta in full.twins:
            await self._merge(edge_id, delta, trace_id, resync=True)

    async def _merge(self, edge_id: str, delta: TwinDelta, trace_id: str, *, resync: bool) -> None:
        if delta.side != "reported":
            raise ContractError("an edge may only report the reported side")
        device_id = delta.device_id
        device = await self._store.get_device(device_id)
        owner = device.edge_id if device else None
        if owner != edge_id:
            self.stats["foreign" if owner else "unknown_device"] += 1
            log.warning("reported twin for a device this edge does not own",
                        extra={"edge_id": edge_id, "device_id": device_id, "owner": owner})
            if owner is None:  # a device the edge found after its last full report: ask for the document
                await self._ask_reported(edge_id)
            return
        before = reported_of(await self._store.twin(device_id))
        try:
            result = await self._store.merge_reported(device_id, delta.values)
        except NotFoundError:
            self.stats["unknown_device"] += 1
            return
        self.stats["applied"] += len(result.applied)
        self.stats["stale"] += len(result.stale)
        if result.stale:
            log.info("stale reported values dropped", extra={"edge_id": edge_id, "device_id": device_id,
                                                             "props": result.stale, "trace_id": trace_id})
        record = await self._store.twin(device_id)
        after = reported_of(record)
        await self._conflicts(edge_id, device_id, before, record, result.applied, trace_id, resync=resync)
        values = {k: v.value for k, v in after.items()}
        for listener in self._listeners:
            listener.reported(device_id, values)

    async def _register(self, edge: EdgeRecord, info: DeviceInfo) -> None:
        current = await self._store.get_device(info.device_id)
        if current is not None and current.edge_id != edge.edge_id:
            self.stats["foreign"] += 1
            log.warning("device announced by a second edge ignored",
                        extra={"edge_id": edge.edge_id, "device_id": info.device_id, "owner": current.edge_id})
            return
        await self._store.upsert_device(Device(info.device_id, edge.edge_id, edge.site, info.domain, info.name,
                                               info.area, info.device_class, current.state if current else {}))

    async def _conflicts(self, edge_id: str, device_id: str, before: dict[str, TwinValue],
                         record: TwinRecord | None, applied: list[str], trace_id: str, *, resync: bool) -> None:
        desired, after = desired_of(record), reported_of(record)
        offline_since = self._edges.get(edge_id, EdgeLink()).offline_since
        for prop, wanted in desired.items():
            now, old = after.get(prop), before.get(prop)
            if wanted.value is None or now is None or values_match(now.value, wanted.value):
                continue
            if resync:  # a desired set while the edge was away beats what the device did meanwhile
                offline_set = offline_since is not None and wanted.ts >= offline_since
                kind, resolution = "twin.conflict", "desired re-applied" if offline_set else "reported kept"
            elif prop in applied and old is not None and values_match(old.value, wanted.value):
                kind, resolution, offline_set = "twin.reported_diverged", "reported kept", False
            else:
                continue
            self.stats["conflicts"] += 1
            detail = {"prop": prop, "desired": wanted.value, "desired_version": wanted.version,
                      "reported": now.value, "reported_version": now.version, "resolution": resolution,
                      "desired_set_while_offline": offline_set}
            log.info("twin conflict", extra={"edge_id": edge_id, "device_id": device_id, "trace_id": trace_id,
                                             **detail})
            await self._audit(kind, f"device:{device_id}", edge_id, trace_id, detail)

    async def _audit(self, action: str, target: str, edge_id: str, trace_id: str, detail: dict[str, Any]) -> None:
        edge = await self._store.get_edge(edge_id)
        site = {"site": edge.site} if edge else {}
        await self._store.record(actor=f"edge:{edge_id}", action=action, target=target, trace_id=trace_id,
                                 detail={**detail, **site})

    # outbound
    async def resync(self, edge_id: str, trace_id: str | None = None, *, ask_reported: bool = True) -> None:
        """Send the edge its full desired document and (by default) ask for its full reported one."""
        twins = []
        for device in await self._store.list_devices(edge_id=edge_id):
            desired = desired_of(await self._store.twin(device.device_id))
            if desired:
                twins.append(TwinDelta(device_id=device.device_id, side="desired", values=desired))
        self.stats["resyncs"] += 1
        try:
            await self._send(edge_id, SyncType.DESIRED_FULL, FullTwin(side="desired", twins=twins).model_dump(
                mode="json"), trace_id)
            if ask_reported:
                await self._send(edge_id, SyncType.RESYNC, {}, trace_id)
        except TransportError as exc:  # the next reconnect repeats the re-sync
            log.warning("re-sync not sent", extra={"edge_id": edge_id, "reason": str(exc)})

    async def _ask_reported(self, edge_id: str) -> None:
        loop = asyncio.get_running_loop()
        link = self._edges.setdefault(edge_id, EdgeLink())
        if loop.time() - link.last_asked < self._ask_every_s:
            return
        link.last_asked = loop.time()
        try:
            await self._send(edge_id, SyncType.RESYNC, {}, None)
        except TransportError as exc:
            log.warning("re-sync request not sent", extra={"edge_id": edge_id, "reason": str(exc)})

    async def update_desired(self, device_id: str, values: dict[str, Any], *, expected_version: int | None = None,
                             trace_id: str) -> int:
        """Store desired values (409 via ConflictError on a stale version) and push them to the owning edge."""
        device = await self._store.get_device(device_id)
        if device is None:
            raise NotFoundError(f"device {device_id!r} does not exist")
        version = await self._store.set_desired(device_id, values, expected_version)
        desired = desired_of(await self._store.twin(device_id))
        await self.publish_desired(device, {k: v for k, v in desired.items() if k in values}, trace_id=trace_id)
        return version

    async def publish_desired(self, device: Device, values: dict[str, TwinValue], *, trace_id: str) -> None:
        """Push desired values (with their versions) to the owning edge as a delta; TransportError when offline."""
        delta = TwinDelta(device_id=device.device_id, side="desired", values=values)
        await self._send(device.edge_id, SyncType.DESIRED, delta.model_dump(mode="json"), trace_id)

    async def send_command(self, edge_id: str, command: DeviceCommand, *, trace_id: str) -> None:
        """Publish a momentary command (no desired state) to an edge; it expires `command_ttl_s` from now unless it
        carries its own `expires_at` (an edge that gets it later, after an outage, refuses it with a reason)."""
        if command.expires_at is None:
            command = command.model_copy(update={"expires_at": utcnow() + timedelta(seconds=self._command_ttl_s)})
        await self._send(edge_id, SyncType.COMMAND, command.model_dump(mode="json"), trace_id)

    async def _send(self, edge_id: str, kind: SyncType, payload: dict[str, Any], trace_id: str | None) -> None:
        envelope = Envelope(source=self._source, type=kind.value, payload=payload,
                            **({"trace_id": trace_id} if trace_id else {}))
        await self._bus.publish(edge_topic(edge_id, EdgeChannel.TWIN_DESIRED), encode(envelope), qos=1)


def values_match(a: Any, b: Any) -> bool:
    """Equal, with a small tolerance for numbers and case-insensitive for strings (devices echo 'on' for 'ON')."""
    numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b))
    if numbers:
        return abs(float(a) - float(b)) <= 1e-3 * max(1.0, abs(float(b)))
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    return bool(a == b)
