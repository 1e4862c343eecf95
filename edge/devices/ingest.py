"""What devices say, taken in: discovery configs, state reports, availability and command errors.

One owner for everything a device publishes, used by the daemon and by the bench rigs alike. A state message is
committed to the twin (with a redelivery mark for QoS 1) before it is acknowledged; its reports to the cloud are
acknowledged in arrival order once they are stored, without holding the router.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from edge.devices.entity import Entity
from edge.devices.registry import Registry
from edge.devices.twins import Twins
from edge.ports import Bus, DeviceStore, Message, StoredDevice, TwinStore
from shared.codec import decode, validate
from shared.decision import Outcome
from shared.discovery import COMPONENTS, DiscoveryConfig, parse_discovery
from shared.errors import PayloadError, TopicError
from shared.payloads import DeviceErrorEvent
from shared.topics import parse_discovery_topic

log = logging.getLogger(__name__)

#: State messages whose reports may wait for the outbox at once before the router waits for the oldest.
ACK_BEHIND = 1000


#: One report to the cloud: device id, changed values, their versions.
Report = tuple[str, dict[str, Any], dict[str, int]]


class Reporter(Protocol):
    """Where changed reported values go (the uplink's twin sync)."""

    def __call__(self, device_id: str, values: dict[str, Any], versions: dict[str, int]
                 ) -> Coroutine[Any, Any, None]: ...


class Store(DeviceStore, TwinStore, Protocol):
    """The device configs and twins the ingest keeps (EdgeStore)."""


class DeviceIngest:
    """Turns device messages into registry entries, twin values and reports to the cloud."""

    def __init__(self, registry: Registry, twins: Twins, store: Store, bus: Bus, report: Reporter, *,
                 discovery_prefix: str = "homeassistant", ack_behind: int = ACK_BEHIND,
                 on_change: Callable[[], None] = lambda: None, on_ignored: Callable[[str], None] = lambda _r: None
                 ) -> None:
        self._registry = registry
        self._twins = twins
        self._store = store
        self._bus = bus
        self._report = report
        self._prefix = discovery_prefix
        self._ack_behind = ack_behind
        self._on_change = on_change  # the set of devices or their availability changed (gauges)
        self._on_ignored = on_ignored  # a discovery config of a component the edge does not support
        self._subscribed: set[str] = set()
        # state messages whose reports are on their way into the outbox, with their tasks, in arrival order
        self._storing: collections.deque[tuple[asyncio.Task[None], Message]] = collections.deque()

    def kind(self, topic: str) -> str | None:
        """Which device topic this is (discovery, state, availability, device_error), or None when nobody owns it."""
        if topic.startswith(self._prefix + "/") and topic.endswith("/config"):
            return "discovery"
        if self._registry.state_bindings(topic):
            return "state"
        if self._registry.availability_entities(topic):
            return "availability"
        if self._registry.error_entity(topic):
            return "device_error"
        return None

    def route(self, topic: str) -> tuple[str, Callable[[Message], Awaitable[None]]] | None:
        """The kind of a device topic and the handler for it, or None when no device owns the topic."""
        kind = self.kind(topic)
        if kind is None:
            return None
        return kind, lambda message: self.handle(kind, message)

    async def restore(self) -> None:
        """Rebuild the registry and the twins from the store (after a restart), then subscribe."""
        for row in await self._store.devices():
            try:
                entity = Entity.from_config(validate(DiscoveryConfig, row.config), row.discovery_topic)
            except PayloadError as exc:
                log.warning("stored device config no longer valid; waiting for rediscovery",
                            extra={"device_id": row.device_id, "error": str(exc)})
                continue
            entity.available = row.available
            self._registry.put(entity)
        await self._twins.load()
        await self.sync_subscriptions()
        self._on_change()

    async def handle(self, kind: str, message: Message) -> None:
        """Take one device message of `kind` in; acknowledged here (a state message once its reports are stored)."""
        if kind == "discovery":
            await self.discovery(message.topic, message.payload)
        elif kind == "state":
            if await self.state(message):
                return
        elif kind == "availability":
            await self.availability(message.topic, message.payload)
        elif kind == "device_error":
            self.device_error(message.topic, message.payload)
        else:
            raise TopicError(f"no handler for topic {message.topic!r}")
        message.ack()

    async def discovery(self, topic: str, payload: bytes) -> None:
        """Add, replace or (empty payload) remove the device a retained config announces."""
        parsed = parse_discovery_topic(topic, self._prefix)
        if parsed.component not in COMPONENTS:
            self._on_ignored("unsupported_component")
            log.debug("ignoring unsupported component", extra={"topic": topic})
            return
        config = parse_discovery(parsed.component, payload)
        if config is None:
            for entity in [e for e in self._registry.entities() if e.discovery_topic == topic]:
                self._registry.remove(entity.device_id)
                self._twins.drop(entity.device_id)
                await self._store.remove_device(entity.device_id)
                log.info("device removed", extra={"device_id": entity.device_id})
        else:
            entity = Entity.from_config(config, topic)
            self._registry.put(entity)
            await self._store.upsert_device(StoredDevice(
                entity.device_id, entity.domain, config.model_dump(by_alias=True, exclude_none=True), topic,
                entity.available))
            log.info("device discovered", extra={"device_id": entity.device_id, "device_name": entity.name,
                                                 "area": entity.area, "domain": entity.domain})
        await self.sync_subscriptions()
        self._on_change()

    async def state(self, message: Message) -> bool:
        """Commit what a state message reports; True when its acknowledgement waits for its reports."""
        reports: list[Report] = []  # made only once the message's commits are done: never a coroutine left unawaited
        for entity, binding in self._registry.state_bindings(message.topic):
            values = entity.parse(binding, message.payload)
            if not values:
                continue
            mark = redelivery_mark(message, entity.device_id)
            if message.dup and mark is not None and await self._store.applied(mark):
                # Applied before a stop, its report perhaps not queued (state messages are acknowledged only once
                # their reports are stored, and several may be pending): not a new change. The device's committed
                # values go up again under their versions, never this older message's values.
                rows = [r for r in await self._store.twin(entity.device_id)
                        if r.prop in values and r.reported_version > 0]
                if rows:
                    reports.append((entity.device_id, {r.prop: r.reported for r in rows},
                                                {r.prop: r.reported_version for r in rows}))
                continue
            changed = await self._twins.report(entity.device_id, values, mark)
            if not changed and message.dup:
                # A redelivery that changes nothing: the edge may have stopped after committing the change and
                # before queueing its report, so it is reported again under its committed versions (the cloud
                # ignores a version it has).
                changed = {r.prop: r.reported_version for r in await self._store.twin(entity.device_id)
                           if r.prop in values and r.reported_version > 0}
                values = {prop: values[prop] for prop in changed}
            if changed:
                reports.append((entity.device_id, values, changed))
        if not reports:
            return False
        await self._ack_when_stored(reports, message)
        return True

    async def availability(self, topic: str, payload: bytes) -> None:
        """Mark the devices behind an availability topic online or offline."""
        text = payload.decode("utf-8", errors="replace").strip()
        for entity in self._registry.availability_entities(topic):
            item = next(i for i in entity.config.availability_topics() if i.topic == topic)
            if text not in (item.payload_available, item.payload_not_available):
                raise PayloadError(f"availability must be {item.payload_available!r} or "
                                   f"{item.payload_not_available!r}, got {text[:40]!r}", field="availability")
            available = text == item.payload_available
            if entity.available != available:
                entity.available = available
                await self._store.set_available(entity.device_id, available)
                log.info("availability", extra={"device_id": entity.device_id, "available": available})
            if not available:
                self._twins.fail(entity.device_id, Outcome.UNAVAILABLE, "device went offline")
        self._on_change()

    def device_error(self, topic: str, payload: bytes) -> None:
        """A device refused a command: its waiting command fails at once with the device's reason."""
        failed = self._registry.error_entity(topic)
        if failed is None:
            raise TopicError(f"no device owns the error topic {topic!r}")
        event = decode(DeviceErrorEvent, payload)
        log.warning("device rejected a command", extra={"device_id": failed.device_id, "error": event.error})
        self._twins.fail(failed.device_id, Outcome.REJECTED, event.error)

    def describe(self) -> list[dict[str, Any]]:
        """Devices with area, availability and reported state (the edge's `GET /v1/devices`)."""
        return [{"device_id": e.device_id, "name": e.name, "domain": e.domain, "area": e.area,
                 "available": e.available, "state": self._twins.values(e.device_id)}
                for e in self._registry.entities()]

    async def sync_subscriptions(self) -> None:
        """Subscribe to the topics of the devices known now, and leave those of devices gone."""
        wanted = self._registry.topics()
        for topic in wanted - self._subscribed:
            await self._bus.subscribe(topic)
        for topic in self._subscribed - wanted:
            await self._bus.unsubscribe(topic)
        self._subscribed = wanted

    async def _ack_when_stored(self, reports: list[Report], message: Message) -> None:
        """Acknowledge `message` once its reports to the cloud are in the outbox, without holding the router.

        The twin is committed already; the reports wait for the outbox's next group commit while the router goes on
        (a crash before the commit leaves the message unacknowledged: the broker redelivers it and the report is
        made again). Acknowledgements keep arrival order; past `ack_behind` waiting messages the router waits.
        """
        task = asyncio.get_running_loop().create_task(self._send_reports(reports))
        self._storing.append((task, message))
        task.add_done_callback(lambda _t: self._ack_stored())
        while len(self._storing) > self._ack_behind:
            await asyncio.wait({self._storing[0][0]})

    def _ack_stored(self) -> None:
        """Acknowledge, in arrival order, every message whose reports are stored."""
        while self._storing and self._storing[0][0].done():
            self._storing.popleft()[1].ack()

    async def _send_reports(self, reports: list[Report]) -> None:
        for device_id, values, versions in reports:
            try:
                await self._report(device_id, values, versions)
            except Exception:  # a defect: logged; the message is acknowledged all the same (never a stuck window)
                log.exception("report to the cloud failed", extra={"device_id": device_id})

    async def reports_stored(self, timeout: float | None = None) -> None:
        """Wait until the reports of every state message handled so far are stored (and acknowledged)."""
        while self._storing:
            done, _ = await asyncio.wait([task for task, _ in self._storing], timeout=timeout)
            if timeout is not None and not done:
                return


def redelivery_mark(message: Message, device_id: str) -> str | None:
    """What names one QoS 1 state message for one device across a redelivery (None when nothing can)."""
    if message.qos == 0 or not message.mid:
        return None
    digest = hashlib.blake2b(message.payload, digest_size=8).hexdigest()
    return f"{message.topic}\x1f{message.mid}\x1f{digest}\x1f{device_id}"
