"""An in-memory TwinStore and a raw MQTT peer, for twin-sync tests."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from cloud.bus import BusMessage, BusSettings, MqttBus
from cloud.fleet import Device
from cloud.store import EdgeRecord, MergeResult, TwinRecord
from shared.codec import encode, parse_json
from shared.envelope import Envelope, utcnow
from shared.errors import ConflictError, NotFoundError
from shared.twin import TwinDocument, TwinProperty, TwinValue, is_newer

_ids = itertools.count()


class MemoryTwinStore:
    """cloud.twin_sync.TwinStore in memory, with the same rules as the SQLite store."""

    def __init__(self) -> None:
        self.edges: dict[str, EdgeRecord] = {}
        self.devices: dict[str, Device] = {}
        self.props: dict[str, dict[str, TwinProperty]] = {}
        self.versions: dict[str, int] = {}
        self.audit: list[dict[str, Any]] = []
        self.status_log: list[tuple[str, bool]] = []

    def add_edge(self, edge_id: str, site: str = "home") -> None:
        self.edges[edge_id] = EdgeRecord(edge_id, site)

    def add_device(self, device_id: str, edge_id: str, domain: str = "light", name: str | None = None) -> Device:
        device = Device(device_id, edge_id, self.edges[edge_id].site, domain, name or device_id)
        self.devices[device_id] = device
        self.versions.setdefault(device_id, 0)
        return device

    async def get_edge(self, edge_id: str) -> EdgeRecord | None:
        return self.edges.get(edge_id)

    async def set_edge_status(self, edge_id: str, online: bool, ts: datetime) -> EdgeRecord:
        if edge_id not in self.edges:
            raise NotFoundError(f"edge {edge_id!r} is not registered")
        self.edges[edge_id] = replace(self.edges[edge_id], online=online, last_seen=ts)
        self.status_log.append((edge_id, online))
        return self.edges[edge_id]

    async def upsert_device(self, device: Device) -> None:
        self.devices[device.device_id] = device
        self.versions.setdefault(device.device_id, 0)

    async def get_device(self, device_id: str) -> Device | None:
        return self.devices.get(device_id)

    async def list_devices(self, *, edge_id: str | None = None) -> list[Device]:
        return [d for d in self.devices.values() if edge_id is None or d.edge_id == edge_id]

    async def twin(self, device_id: str) -> TwinRecord | None:
        if device_id not in self.devices:
            return None
        props = {k: p.model_copy() for k, p in self.props.get(device_id, {}).items()}
        return TwinRecord(TwinDocument(device_id=device_id, properties=props), self.versions[device_id])

    async def merge_reported(self, device_id: str, values: Mapping[str, TwinValue]) -> MergeResult:
        if device_id not in self.devices:
            raise NotFoundError(f"device {device_id!r} not found")
        result = MergeResult()
        props = self.props.setdefault(device_id, {})
        for key, incoming in values.items():
            prop = props.setdefault(key, TwinProperty())
            if is_newer(prop.reported, incoming):
                prop.reported = incoming
                result.applied.append(key)
            else:
                result.stale.append(key)
        return result

    async def set_desired(self, device_id: str, values: Mapping[str, Any], expected_version: int | None) -> int:
        if device_id not in self.devices:
            raise NotFoundError(f"device {device_id!r} not found")
        current = self.versions[device_id]
        if expected_version is not None and expected_version != current:
            raise ConflictError(f"twin of {device_id!r} is at version {current}, not {expected_version}")
        version = self.versions[device_id] = current + 1
        props = self.props.setdefault(device_id, {})
        for key, value in values.items():
            props.setdefault(key, TwinProperty()).desired = TwinValue(value=value, version=version, ts=utcnow())
        return version

    async def record(self, *, actor: str, action: str, target: str, trace_id: str,
                     detail: dict[str, Any] | None = None) -> None:
        self.audit.append({"actor": actor, "action": action, "target": target, "trace_id": trace_id,
                           "detail": detail or {}})

    def reported(self, device_id: str) -> dict[str, TwinValue]:
        return {k: p.reported for k, p in self.props.get(device_id, {}).items() if p.reported is not None}


@contextlib.asynccontextmanager
async def mqtt_peer(host: str, port: int, *filters: str, name: str = "peer") -> AsyncIterator[Peer]:
    """A connected MqttBus that records what arrives on `filters` (plays an edge or an observer)."""
    bus = MqttBus(BusSettings(host=host, port=port, client_id=f"{name}-{next(_ids)}-{id(object())}",
                              reconnect_min_s=0.05, reconnect_max_s=0.5))
    for topic_filter in filters:
        await bus.subscribe(topic_filter)
    await bus.start(timeout=10)
    peer = Peer(bus)
    task = asyncio.create_task(peer.collect())
    try:
        yield peer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await bus.stop()


class Peer:
    """Messages received by a test MQTT client, with helpers to wait for them."""

    def __init__(self, bus: MqttBus) -> None:
        self.bus = bus
        self.received: list[BusMessage] = []

    async def collect(self) -> None:
        async for message in self.bus.messages():
            self.received.append(message)

    def envelopes(self, topic: str | None = None, kind: str | None = None) -> list[Envelope]:
        out = []
        for message in self.received:
            if topic is not None and message.topic != topic:
                continue
            data = parse_json(message.payload) if message.payload else None
            if isinstance(data, dict) and "type" in data and "payload" in data:
                envelope = Envelope.model_validate(data)
                if kind is None or envelope.type == kind:
                    out.append(envelope)
        return out

    async def wait_envelope(self, kind: str, topic: str | None = None, count: int = 1,
                            timeout: float = 10.0) -> list[Envelope]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found := self.envelopes(topic, kind)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {kind} envelope on {topic} within {timeout}s "
                                     f"(got {[m.topic for m in self.received]})")
            await asyncio.sleep(0.01)
        return found

    async def send(self, topic: str, kind: str, payload: dict[str, Any], *, source: str = "edge:test",
                   **fields: Any) -> Envelope:
        envelope = Envelope(source=source, type=kind, payload=payload, **fields)
        await self.bus.publish(topic, encode(envelope), qos=1)
        return envelope


async def eventually(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll until `predicate()` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)
