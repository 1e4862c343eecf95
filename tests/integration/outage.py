"""Helpers for outage tests: a broker that keeps sessions across restarts, the cloud's view of reports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from shared.topics import EdgeChannel, edge_topic
from tests.conftest import _Mosquitto
from tests.integration.conftest import EDGE_ID

LIGHT = "autoglm_sim_kitchen_light"


class PersistentMosquitto(_Mosquitto):
    """Mosquitto that keeps sessions and queued messages across a restart."""

    def __init__(self, binary: str, workdir: Path) -> None:
        super().__init__(binary, workdir)
        # Mosquitto started as root drops to its own user, which cannot write into pytest's private tmp_path:
        # without a writable place the sessions are silently not saved, and a restart loses queued messages.
        self.store = Path(tempfile.mkdtemp(prefix="autoglm-broker-"))
        self.store.chmod(0o777)
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                             f"persistence_location {self.store}/\nmax_queued_messages 100000\n")

    def stop(self) -> None:
        super().stop()
        if not (self.store / "mosquitto.db").exists():
            raise AssertionError(f"the broker did not save its sessions in {self.store}: see {self.log}")


class Collector:
    """The cloud's view: a persistent-session subscriber to the edge's reported channel."""

    def __init__(self, port: int, edge_id: str = EDGE_ID) -> None:
        self.envelopes: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"cloud-collector-{edge_id}",
                                   clean_session=False)
        self._client.reconnect_delay_set(0.05, 0.5)
        self._client.on_connect = lambda c, *_: c.subscribe(edge_topic(edge_id, EdgeChannel.TWIN_REPORTED), qos=1)
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.envelopes.append(json.loads(message.payload))

    def _deltas(self) -> list[dict[str, Any]]:
        """Every reported delta received, from single deltas and full documents, duplicates included."""
        with self._lock:
            envelopes = list(self.envelopes)
        out: list[dict[str, Any]] = []
        for envelope in envelopes:
            payload = envelope["payload"]
            assert isinstance(payload, dict)
            out += [payload] if envelope["type"] == "twin.reported" else payload.get("twins", [])
        return out

    def state_versions(self) -> list[int]:
        """Every reported version of the light's `state` the cloud received, duplicates included."""
        return [int(d["values"]["state"]["version"]) for d in self._deltas()
                if d.get("device_id") == LIGHT and "state" in d["values"]]

    def versions(self) -> set[tuple[str, str, int]]:
        """Every (device, property, version) reported to the cloud."""
        return {(d["device_id"], prop, int(v["version"])) for d in self._deltas() for prop, v in d["values"].items()}

    def redelivered_differently(self) -> list[str]:
        """Ids that arrived more than once with different contents (de-duplicating by id would then lose data)."""
        seen: dict[str, str] = {}
        bad = []
        with self._lock:
            envelopes = list(self.envelopes)
        for envelope in envelopes:
            body = json.dumps(envelope, sort_keys=True)
            if seen.setdefault(str(envelope["id"]), body) != body:
                bad.append(str(envelope["id"]))
        return bad

    def settle(self, timeout: float = 5.0) -> None:
        """Return once the broker holds no delivery to this collector unacknowledged (before the test stops it).

        A QoS 1 round trip on this connection, twice: the first PUBACK comes after every delivery the broker sent
        before it, the second after the PUBACKs the collector queued for those; again while deliveries still come.
        """
        while True:
            with self._lock:
                before = len(self.envelopes)
            for _ in range(2):
                self._client.publish(f"autoglm-test/collector/{id(self)}", b"", qos=1).wait_for_publish(timeout)
            with self._lock:
                if len(self.envelopes) == before:
                    return

    def ids(self) -> list[str]:
        with self._lock:
            return [str(e["id"]) for e in self.envelopes]

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()




@contextlib.asynccontextmanager
async def black_hole(*ports: int) -> AsyncIterator[None]:
    """Accept connections on `ports` and never answer (a cloud that hangs)."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    servers = [await asyncio.start_server(swallow, "127.0.0.1", port) for port in ports]
    try:
        yield
    finally:
        for writer in held:
            writer.close()
        for server in servers:
            server.close()
            await server.wait_closed()
