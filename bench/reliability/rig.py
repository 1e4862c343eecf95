"""The uplink rig shared by the offline scenarios, `twins.reconnect_races` and `breaker.black_holed_cloud`: a fake
home, echoing lights, the edge's twin-sync side as the daemon wires it (`EdgeRig`) or the whole daemon in this process
(`edge_in_process`), and the cloud's twin sync counting what reaches it.

The broker scenarios have a rig of their own (bench/reliability/rig_bridge.py: lights behind one bridge client, the
cloud with its commander); the two share no part, and together they would be one module of over 400 lines.
Negative controls switch a safeguard off through the real component's flag: `cloud_side(dedup=False)` (the cloud's
`TwinSync`), `EdgeRig(check_versions=False)` or `EdgeRig(check_expiry=False)` (the edge's `Uplink`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.reliability.procs import Mosquitto
from cloud.bus import BusMessage, BusSettings, MqttBus
from cloud.sqlite_store import SqliteStore
from cloud.twin_sync import TwinSync
from edge.config import MqttSettings, Safeguards, load_settings
from edge.daemon import EdgeDaemon
from edge.devices.entity import Entity
from edge.devices.executor import Executor
from edge.devices.registry import Registry
from edge.devices.twins import Twins
from edge.io.mqtt import PahoBus
from edge.io.store import EdgeStore
from edge.uplink.twin_sync import Uplink
from shared.discovery import parse_discovery
from shared.errors import AutoGLMError
from shared.topics import EdgeChannel, edge_topic

EDGE = "offline-edge"
LIGHTS = 4


class FakeHome:
    """Lights on the local broker: retained discovery configs, then brightness reports; and utterances."""

    def __init__(self, port: int) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"fake-home-{random.getrandbits(32)}")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.last: dict[str, int] = {}

    def announce(self, lights: int) -> None:
        for i in range(lights):
            config = {"unique_id": f"l{i}", "name": f"Light {i}", "schema": "json", "brightness": True,
                      "state_topic": f"dev/l{i}", "command_topic": f"dev/l{i}/set",
                      "device": {"identifiers": [f"l{i}"], "suggested_area": "Hall"}}
            self.client.publish(f"homeassistant/light/l{i}/config", json.dumps(config), qos=1, retain=True
                                ).wait_for_publish(5)

    def report(self, light: int, brightness: int) -> None:
        device = f"l{light}"
        self.client.publish(f"dev/{device}", json.dumps({"state": "ON", "brightness": brightness}), qos=1
                            ).wait_for_publish(5)
        self.last[device] = brightness

    def say(self, text: str) -> None:
        self.client.publish(edge_topic(EDGE, EdgeChannel.UTTERANCES), text.encode(), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class EchoLights:
    """JSON lights on a broker that apply every command and report it back; notes the brightness commanded."""

    def __init__(self, port: int) -> None:
        self.commanded: dict[str, list[int]] = {}
        self.received: Counter[str] = Counter()  # every command, per device
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"echo-lights-{random.getrandbits(32)}")
        self.client.on_connect = lambda c, *_: c.subscribe("dev/+/set", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        device = message.topic.split("/")[1]
        command = json.loads(message.payload)
        self.received[device] += 1
        if "brightness" in command:
            self.commanded.setdefault(device, []).append(round(float(command["brightness"])))
        client.publish(f"dev/{device}", json.dumps({"state": "ON", **command}), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def light_entity(i: int) -> Entity:
    """Light `l{i}` as discovery announces it (JSON schema, brightness 0-255)."""
    config = parse_discovery("light", json.dumps({
        "unique_id": f"l{i}", "name": f"Light {i}", "schema": "json", "brightness": True, "state_topic": f"dev/l{i}",
        "command_topic": f"dev/l{i}/set", "device": {"identifiers": [f"l{i}"]}}))
    assert config is not None
    entity = Entity.from_config(config, f"homeassistant/light/l{i}/config")
    entity.available = True
    return entity


class EdgeRig:
    """The edge's twin-sync side as the daemon wires it (store, registry of lights, twins, bus, executor, uplink).

    `restart()` replaces the uplink by a new one on the same store, as an edge restart does (its memory is gone,
    its database stays); `stop()` disconnects the bus, whose broker session keeps what the cloud sends meanwhile.
    `uplink_flags` are the `Uplink`'s safeguard flags (`check_versions`, `check_expiry`) a negative control turns off.
    """

    def __init__(self, work: Path, port: int, lights: int, client_id: str, **uplink_flags: bool) -> None:
        self.port, self.client_id, self.uplink_flags = port, client_id, uplink_flags
        self.store = EdgeStore(work / "edge.db")
        self.registry = Registry()
        for i in range(lights):
            self.registry.put(light_entity(i))
        self.twins = Twins(self.store)
        self.uplinks: list[Uplink] = []
        self._router: asyncio.Task[None] | None = None

    @property
    def uplink(self) -> Uplink:
        return self.uplinks[-1]

    async def start(self) -> None:
        """Open the store (once) and connect a fresh bus and uplink."""
        if self._router is None and not self.uplinks:
            await self.store.open()
            await self.twins.load()
        self.bus = PahoBus(MqttSettings(host="127.0.0.1", port=self.port, reconnect_min_s=0.05, reconnect_max_s=0.3),
                           self.client_id)
        self.executor = Executor(self.bus, self.twins, timeout_s=2.0, slow_timeout_s=2.0)
        self.restart()
        for topic in self.registry.topics():
            await self.bus.subscribe(topic)
        await self.uplink.start()
        self._router = asyncio.create_task(self._route())
        await self.bus.start(timeout=10)

    def restart(self) -> None:
        self.uplinks.append(Uplink(EDGE, self.bus, self.registry, self.twins, self.store, self.executor,
                                   heartbeat_s=600, **self.uplink_flags))

    async def _route(self) -> None:  # what the daemon's router does for these topics
        async for message in self.bus.messages():
            if message.topic == self.uplink.desired_topic:
                with contextlib.suppress(AutoGLMError):
                    await self.uplink.handle(message.payload)
            elif bindings := self.registry.state_bindings(message.topic):
                for entity, binding in bindings:
                    changed = await self.twins.report(entity.device_id, entity.parse(binding, message.payload))
                    if changed:
                        await self.uplink.reported(entity.device_id, self.twins.values(entity.device_id), changed)
            message.ack()

    async def stop(self) -> None:
        """Let in-flight commands finish, then disconnect (the broker keeps the session)."""
        if self.uplinks:
            await self.uplink.stop()
        if self._router is not None:
            self._router.cancel()
            await asyncio.gather(self._router, return_exceptions=True)
        await self.bus.stop()

    async def close(self) -> None:
        await self.stop()
        await self.store.close()

    def stat(self, key: str) -> int:
        """A counter summed over every uplink this edge had."""
        return sum(u.stats[key] for u in self.uplinks)


class CountingSync(TwinSync):
    """The real twin sync, counting every envelope id it is handed (what arrived, before de-duplication)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: Counter[str] = Counter()

    async def handle(self, message: BusMessage) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            self.received[str(json.loads(message.payload)["id"])] += 1
        await super().handle(message)


def edge_settings(data: Path, local: int, cloud: int, **uplink: Any) -> dict[str, Any]:
    """An edge on `local` with its uplink on `cloud`: no HTTP, no intent model, no decision cache."""
    (data / "no-model").mkdir(parents=True, exist_ok=True)
    return {"edge_id": EDGE, "data_dir": str(data), "model_dir": str(data / "no-model"), "confirm_timeout_s": 0.5,
            "mqtt": {"host": "127.0.0.1", "port": local}, "http": {"enabled": False}, "cache": {"enabled": False},
            "uplink": {"mqtt": {"host": "127.0.0.1", "port": cloud, "reconnect_min_s": 0.05, "reconnect_max_s": 0.3},
                       "heartbeat_s": 60.0, **uplink}}


@contextlib.asynccontextmanager
async def cloud_side(db: Path, port: int, *, dedup: bool = True, kind: type[CountingSync] = CountingSync,
                     client_id: str | None = None) -> AsyncIterator[tuple[CountingSync, SqliteStore]]:
    """The cloud's twin sync on its SQLite store and the cloud's broker, as `open_mqtt_link` runs it (a fixed
    `client_id` resumes that persistent session); `dedup=False` is the twin sync without de-duplication."""
    store = SqliteStore(db)
    await store.open()
    await store.upsert_edge(EDGE, site="home")
    bus = MqttBus(BusSettings(port=port, client_id=client_id or f"cloud-{random.getrandbits(32)}",
                              reconnect_min_s=0.05, reconnect_max_s=0.3))
    sync = kind(bus, store, dedup=dedup)
    await sync.start()
    await bus.start(10)
    task = asyncio.create_task(sync.run())
    try:
        yield sync, store
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await bus.stop()
        await store.close()


async def cloud_session(db: Path, broker: Mosquitto, client_id: str, **kwargs: Any) -> None:
    """Give the cloud its persistent session on `broker` (subscriptions kept in the broker's persistence), then stop
    the broker: as in production, the cloud's session outlives an outage, so what the edge sends between the broker's
    return and the cloud's reconnect is queued for it instead of finding no subscriber."""
    broker.start()
    try:
        async with cloud_side(db, broker.port, client_id=client_id, **kwargs):
            await asyncio.sleep(0.3)  # subscribed on connect
    finally:
        broker.terminate()


@contextlib.asynccontextmanager
async def edge_in_process(settings: dict[str, Any], safeguards: Safeguards | None = None
                          ) -> AsyncIterator[EdgeDaemon]:
    """The edge daemon (the real composition root) in this process, until the block ends."""
    daemon = EdgeDaemon(load_settings(None, **settings), safeguards=safeguards)
    await daemon.start(connect_timeout=10)
    task = asyncio.create_task(daemon.run())
    try:
        yield daemon
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await daemon.stop()
