"""The bridge rig shared by the broker scenarios: simulated lights behind one bridge client, a bench edge's settings,
and the cloud side as `cloud.mqtt_link` builds it, with a sender that retries a command until the twin confirms it.

The offline and twin scenarios have a rig of their own (bench/reliability/rig.py: a fake home, echoing lights, the
edge's uplink side); the two share no part, and together they would be one module of over 400 lines. A command here
is `light.turn_on` with a brightness no other command to that light uses, so the light's record says which commands
arrived and how often.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from cloud.bus import BusSettings, MqttBus
from cloud.commander import MqttEdgeCommander
from cloud.fleet import Device
from cloud.sqlite_store import SqliteStore
from cloud.twin_sync import TwinSync
from shared.errors import AutoGLMError

EDGE_ID = "rel-edge"
ROOT = "rel-lights"


def light_topics(light: str) -> dict[str, str]:
    """State, command and availability topics of one simulated light."""
    return {"state": f"{ROOT}/{light}", "set": f"{ROOT}/{light}/set", "availability": f"{ROOT}/{light}/availability"}


def light_config(light: str) -> dict[str, Any]:
    """Home Assistant discovery config of one JSON-schema dimmable light."""
    topics = light_topics(light)
    return {"unique_id": f"rel_{light}", "name": f"Bench light {light}", "object_id": light, "schema": "json",
            "brightness": True, "brightness_scale": 255, "state_topic": topics["state"],
            "command_topic": topics["set"], "availability_topic": topics["availability"],
            "payload_available": "online", "payload_not_available": "offline",
            "device": {"identifiers": [f"rel_{light}"], "name": f"Bench light {light}", "suggested_area": "Lab"}}


class Lights:
    """Simulated dimmable lights behind one persistent-session paho client; every `/set` they receive is recorded.

    They publish state (retained, QoS 1) after every command and on every (re)connect, as Tasmota and zigbee2mqtt
    do, so an edge learns a state whose report a broker crash swallowed."""

    def __init__(self, port: int, names: list[str], *, client_id: str = "rel-lights") -> None:
        self.names = names
        self.state = {n: {"state": "OFF", "brightness": 1} for n in names}
        self.received: Counter[tuple[str, int]] = Counter()  # (light, brightness) -> times commanded
        self.commands = 0
        self._lock = threading.Lock()
        self._port = port
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self._client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]  # floats work
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background and announce every light."""
        self._client.connect_async("127.0.0.1", self._port, 30)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def set_brightness(self, light: str, level: int) -> None:
        """Change a light by hand (not a command): its new state is reported."""
        with self._lock:
            self.state[light] = {"state": "ON", "brightness": level}
        self._publish_state(light)

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            return
        client.subscribe(f"{ROOT}/+/set", 1)
        for light in self.names:
            client.publish(f"homeassistant/light/{ROOT}/{light}/config", json.dumps(light_config(light)), 1, True)
            client.publish(light_topics(light)["availability"], b"online", 1, True)
            self._publish_state(light)

    def _publish_state(self, light: str) -> None:
        with self._lock:
            body = json.dumps(self.state[light])
        self._client.publish(light_topics(light)["state"], body, 1, True)

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        light = msg.topic.removeprefix(f"{ROOT}/").removesuffix("/set")
        try:
            command = json.loads(msg.payload)
        except ValueError:
            return
        if light not in self.state or not isinstance(command, dict):
            return
        with self._lock:
            self.commands += 1
            state = self.state[light]
            if isinstance(command.get("brightness"), int):
                self.received[(light, command["brightness"])] += 1
                state.update(state="ON", brightness=command["brightness"])
            if command.get("state") in ("ON", "OFF"):
                state["state"] = command["state"]
        self._publish_state(light)


def edge_settings(data_dir: Path, port: int, *, uplink_port: int | None = None, **extra: Any) -> dict[str, Any]:
    """The `[edge]` table of a bench edge: fast reconnects, no HTTP, no model, no decision cache."""
    model_dir = data_dir / "no-model"
    model_dir.mkdir(parents=True, exist_ok=True)
    mqtt = {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0}
    settings: dict[str, Any] = {
        "edge_id": EDGE_ID, "data_dir": data_dir, "model_dir": model_dir, "languages": ["en"],
        "http": {"enabled": False}, "cache": {"enabled": False}, "confirm_timeout_s": 4.0, "mqtt": mqtt,
        "uplink": {"heartbeat_s": 5.0}}
    if uplink_port is not None:
        settings["uplink"]["mqtt"] = {**mqtt, "port": uplink_port}
    return settings | extra


@dataclass
class Cloud:
    """The cloud side as `cloud.mqtt_link` builds it, on a real SQLite file."""

    store: SqliteStore
    bus: MqttBus
    sync: TwinSync
    commander: MqttEdgeCommander
    devices: dict[str, Device] = field(default_factory=dict)  # light name -> device


@contextlib.asynccontextmanager
async def cloud_side(db: Path, port: int, lights: list[str], timeout: float = 60.0) -> AsyncIterator[Cloud]:
    """Start the cloud twin sync and wait until every light is registered with a reported state."""
    store = SqliteStore(db)
    await store.open()
    await store.upsert_edge(EDGE_ID, site="bench")
    bus = MqttBus(BusSettings(port=port, client_id="rel-cloud", reconnect_min_s=0.1, reconnect_max_s=1.0,
                              timeout_s=3.0))
    sync = TwinSync(bus, store)
    commander = MqttEdgeCommander(sync, store, bus)
    await sync.start()
    await bus.start(timeout=10)
    task = asyncio.create_task(sync.run())
    cloud = Cloud(store, bus, sync, commander)
    try:
        deadline = time.monotonic() + timeout
        while len(cloud.devices) < len(lights):
            if time.monotonic() > deadline or task.done():
                raise RuntimeError(f"only {len(cloud.devices)} of {len(lights)} lights reached the cloud")
            await asyncio.sleep(0.1)
            for device in await store.list_devices(edge_id=EDGE_ID):
                light = device.device_id.removeprefix("rel_")
                if light in lights and (await commander.state(device)).get("brightness") is not None:
                    cloud.devices[light] = device
        yield cloud
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await bus.stop()
        await store.close()


def level(pct: int) -> int:
    """The brightness (0..255) `light.turn_on` with `brightness_pct` asks for."""
    return round(pct / 100 * 255)


async def command(cloud: Cloud, light: str, pct: int, *, retry: bool, timeout_s: float,
                  give_up: float) -> tuple[bool, int]:
    """One `light.turn_on`; with `retry`, again until the reported twin confirms it. (confirmed, attempts)."""
    attempts = 0
    while True:
        attempts += 1
        try:
            await cloud.commander.act(cloud.devices[light], "light.turn_on", {"brightness_pct": pct},
                                      trace_id=f"rel-{light}-{pct}-{attempts}", timeout_s=timeout_s)
            return True, attempts
        except AutoGLMError:
            if not retry or time.monotonic() > give_up:
                return False, attempts
            await asyncio.sleep(0.2)
