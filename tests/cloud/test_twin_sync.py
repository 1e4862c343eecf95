"""TwinSync against a real broker: reported merges with versions, desired deltas, status, re-sync, conflicts."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.bus import BusSettings, MqttBus, backoff_delay
from cloud.sqlite_store import SqliteStore
from cloud.twin_sync import TwinStore, TwinSync
from shared.codec import encode
from shared.envelope import utcnow
from shared.errors import ConflictError, NotFoundError, TransportError
from shared.sync import ApplyResult, DeviceCommand, DeviceInfo, FullTwin, SyncType
from shared.topics import EdgeChannel, edge_filter, edge_topic
from shared.twin import TwinDelta, TwinValue
from tests.cloud.twin_fakes import MemoryTwinStore, Peer, eventually, mqtt_peer
from tests.conftest import BrokerInfo

EDGE = "gw1"
REPORTED = edge_topic(EDGE, EdgeChannel.TWIN_REPORTED)
DESIRED = edge_topic(EDGE, EdgeChannel.TWIN_DESIRED)
STATUS = edge_topic(EDGE, EdgeChannel.STATUS)


@dataclass
class Rig:
    """A running TwinSync, its store, and a peer playing the edge (it hears the edge's desired channel)."""

    sync: TwinSync
    store: MemoryTwinStore
    edge: Peer


@contextlib.asynccontextmanager
async def running_sync(broker: BrokerInfo, store: TwinStore, **kwargs: Any) -> AsyncIterator[TwinSync]:
    """TwinSync on its own bus, routing until the block ends."""
    bus = MqttBus(BusSettings(host=broker.host, port=broker.port, client_id=f"cloud-{random.getrandbits(32)}",
                              reconnect_min_s=0.05, reconnect_max_s=0.5))
    sync = TwinSync(bus, store, **kwargs)
    await sync.start()
    await bus.start(timeout=10)
    task = asyncio.create_task(sync.run())
    try:
        yield sync
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await bus.stop()


@pytest.fixture
async def rig(broker: BrokerInfo) -> AsyncIterator[Rig]:
    store = MemoryTwinStore()
    store.add_edge(EDGE, site="home")
    store.add_device("light.kitchen", EDGE)
    async with mqtt_peer(broker.host, broker.port, edge_filter(EdgeChannel.TWIN_DESIRED, EDGE), name="edge") as edge:
        async with running_sync(broker, store, watchdog_s=0.05) as sync:
            yield Rig(sync, store, edge)


def reported(device_id: str, **values: tuple[Any, int]) -> dict[str, Any]:
    """A reported TwinDelta payload: prop=(value, version)."""
    return TwinDelta(device_id=device_id, side="reported",
                     values={k: TwinValue(value=v, version=n) for k, (v, n) in values.items()}).model_dump(mode="json")


async def test_reported_delta_is_merged_with_versions_and_stale_versions_are_dropped(rig: Rig) -> None:
    await rig.edge.send(REPORTED, SyncType.REPORTED, reported("light.kitchen", state=("ON", 3), brightness=(200, 5)))
    await eventually(lambda: rig.sync.stats["applied"] == 2, what="merge")
    assert {k: (v.value, v.version) for k, v in rig.store.reported("light.kitchen").items()} == {
        "state": ("ON", 3), "brightness": (200, 5)}
    # lower and equal versions are stale; a newer one still applies
    await rig.edge.send(REPORTED, SyncType.REPORTED, reported("light.kitchen", state=("OFF", 2), brightness=(10, 5)))
    await rig.edge.send(REPORTED, SyncType.REPORTED, reported("light.kitchen", state=("OFF", 4)))
    await eventually(lambda: rig.sync.stats["applied"] == 3, what="second merge")
    assert rig.sync.stats["stale"] == 2
    assert {k: (v.value, v.version) for k, v in rig.store.reported("light.kitchen").items()} == {
        "state": ("OFF", 4), "brightness": (200, 5)}


async def test_malformed_messages_are_counted_and_do_not_stop_the_sync(rig: Rig) -> None:
    await rig.edge.bus.publish(REPORTED, b"{not json", qos=1)
    await rig.edge.bus.publish(REPORTED, encode({"type": "twin.reported", "payload": {}}), qos=1)  # no source
    await rig.edge.send(REPORTED, SyncType.REPORTED, {"device_id": "light.kitchen", "side": "reported",
                                                      "values": {"state": {"value": "ON", "version": -1}}})
    await rig.edge.bus.publish(STATUS, b'{"state": "sideways"}', qos=1)
    await rig.edge.send(REPORTED, SyncType.REPORTED, reported("light.kitchen", state=("ON", 1)))
    await eventually(lambda: "state" in rig.store.reported("light.kitchen"), what="good message after bad ones")
    assert rig.sync.stats["malformed"] == 4


async def test_duplicates_and_foreign_devices_are_dropped(rig: Rig) -> None:
    rig.store.add_edge("gw2")
    rig.store.add_device("light.other", "gw2")
    first = await rig.edge.send(REPORTED, SyncType.REPORTED, reported("light.kitchen", state=("ON", 1)))
    await rig.edge.send(REPORTED, SyncType.REPORTED, reported("light.kitchen", state=("OFF", 2)), id=first.id)
    await rig.edge.send(REPORTED, SyncType.REPORTED, reported("light.other", state=("ON", 9)))
    await eventually(lambda: rig.sync.stats["foreign"] == 1, what="foreign report")
    assert rig.sync.stats["duplicate"] == 1
    assert rig.store.reported("light.kitchen")["state"].value == "ON"
    assert rig.store.reported("light.other") == {}


async def test_full_report_registers_devices_with_the_edges_site(rig: Rig) -> None:
    full = FullTwin(side="reported", devices=[DeviceInfo(device_id="lock.front", domain="lock", name="Front Door",
                                                         area="Hallway")],
                    twins=[TwinDelta(device_id="lock.front", side="reported",
                                     values={"state": TwinValue(value="LOCKED", version=7)})])
    await rig.edge.send(REPORTED, SyncType.REPORTED_FULL, full.model_dump(mode="json"))
    await eventually(lambda: rig.store.reported("lock.front"), what="full report merged")
    device = rig.store.devices["lock.front"]
    assert (device.edge_id, device.site, device.domain, device.area) == (EDGE, "home", "lock", "Hallway")
    assert rig.store.reported("lock.front")["state"].version == 7


async def test_desired_update_goes_to_the_edge_as_a_versioned_delta(rig: Rig) -> None:
    version = await rig.sync.update_desired("light.kitchen", {"state": "ON", "brightness": 128}, trace_id="t-1")
    [envelope] = await rig.edge.wait_envelope(SyncType.DESIRED, DESIRED)
    delta = TwinDelta.model_validate(envelope.payload)
    assert envelope.trace_id == "t-1"
    assert {k: (v.value, v.version) for k, v in delta.values.items()} == {"state": ("ON", version),
                                                                           "brightness": (128, version)}
    with pytest.raises(ConflictError):
        await rig.sync.update_desired("light.kitchen", {"state": "OFF"}, expected_version=version - 1, trace_id="t")
    with pytest.raises(NotFoundError):
        await rig.sync.update_desired("light.nowhere", {"state": "OFF"}, trace_id="t")


async def test_reconnect_resyncs_and_logs_offline_conflicts(rig: Rig) -> None:
    await rig.store.set_desired("light.kitchen", {"state": "OFF"}, None)
    await rig.edge.bus.publish(STATUS, encode({"state": "online", "edge_id": EDGE}), qos=1, retain=True)
    await eventually(lambda: rig.store.status_log == [(EDGE, True)], what="online")
    [full] = await rig.edge.wait_envelope(SyncType.DESIRED_FULL, DESIRED)
    await rig.edge.wait_envelope(SyncType.RESYNC, DESIRED)
    assert FullTwin.model_validate(full.payload).twins[0].values["state"].value == "OFF"
    await rig.edge.send(REPORTED, SyncType.REPORTED, reported("light.kitchen", state=("OFF", 1)))
    # the last will: offline; a desired change made meanwhile is pushed again when the edge is back
    await rig.edge.bus.publish(STATUS, encode({"state": "offline", "edge_id": EDGE}), qos=1, retain=True)
    await eventually(lambda: rig.store.status_log[-1] == (EDGE, False), what="offline")
    await rig.store.set_desired("light.kitchen", {"state": "ON"}, None)
    await rig.edge.bus.publish(STATUS, encode({"state": "online", "edge_id": EDGE}), qos=1, retain=True)
    fulls = await rig.edge.wait_envelope(SyncType.DESIRED_FULL, DESIRED, count=2)
    assert FullTwin.model_validate(fulls[-1].payload).twins[0].values["state"].value == "ON"
    # the device was switched OFF by hand meanwhile (a newer version): the device wins on reported, the event is logged
    twin = TwinDelta(device_id="light.kitchen", side="reported", values={"state": TwinValue(value="OFF", version=2)})
    await rig.edge.send(REPORTED, SyncType.REPORTED_FULL, FullTwin(side="reported", twins=[twin]).model_dump(
        mode="json"), trace_id="resync-1")
    await eventually(lambda: rig.sync.stats["conflicts"] == 1, what="conflict")
    [entry] = [a for a in rig.store.audit if a["action"] == "twin.conflict"]
    assert entry["detail"]["desired_set_while_offline"] is True and entry["detail"]["reported"] == "OFF"
    assert entry["detail"]["site"] == "home" and entry["trace_id"] == "resync-1"
    assert rig.store.reported("light.kitchen")["state"].value == "OFF"
    assert rig.sync.stats["resyncs"] == 2


async def test_device_leaving_its_desired_state_is_logged(rig: Rig) -> None:
    await rig.store.set_desired("light.kitchen", {"state": "ON"}, None)
    await rig.edge.send(REPORTED, SyncType.REPORTED, reported("light.kitchen", state=("ON", 1)))
    await rig.edge.send(REPORTED, SyncType.REPORTED, reported("light.kitchen", state=("OFF", 2)))
    await eventually(lambda: rig.sync.stats["conflicts"] == 1, what="divergence")
    assert [a["action"] for a in rig.store.audit] == ["twin.reported_diverged"]


async def test_missing_heartbeats_mark_the_edge_offline(rig: Rig) -> None:
    await rig.edge.bus.publish(STATUS, encode({"state": "online", "edge_id": EDGE, "heartbeat_s": 0.1}), qos=1)
    await eventually(lambda: rig.store.status_log == [(EDGE, True)], what="online")
    await eventually(lambda: rig.store.status_log[-1] == (EDGE, False), timeout=5, what="heartbeat timeout")
    assert rig.sync.edge_online(EDGE) is False
    assert [a["action"] for a in rig.store.audit] == ["edge.heartbeat_missed"]


async def test_edge_results_reach_listeners(rig: Rig) -> None:
    seen: list[tuple[str, ApplyResult, str]] = []

    class Listener:
        def reported(self, device_id: str, values: dict[str, Any]) -> None: ...

        def applied(self, edge_id: str, result: ApplyResult, trace_id: str) -> None:
            seen.append((edge_id, result, trace_id))

    rig.sync.add_listener(Listener())
    await rig.edge.send(edge_topic(EDGE, EdgeChannel.EVENTS), SyncType.APPLIED,
                        {"device_id": "light.kitchen", "outcome": "rejected", "detail": "too bright"}, trace_id="t-9")
    await eventually(lambda: seen, what="listener")
    assert seen[0][0] == EDGE and seen[0][1].outcome == "rejected" and seen[0][2] == "t-9"


async def test_edge_events_are_audited_once_per_message_id(rig: Rig) -> None:
    events = edge_topic(EDGE, EdgeChannel.EVENTS)
    first = await rig.edge.send(events, "edge.decision", {"text": "play jazz", "outcome": "cloud_unavailable"},
                                trace_id="t-1")
    await rig.edge.send(events, "edge.decision", {"text": "play jazz", "outcome": "cloud_unavailable"},
                        id=first.id, trace_id="t-1")  # re-sent after a crash between PUBACK and the outbox delete
    await rig.edge.send(events, "something.else", {})
    await eventually(lambda: rig.sync.stats["ignored"] == 1, what="the unknown event")
    decisions = [a for a in rig.store.audit if a["action"] == "edge.decision"]
    assert len(decisions) == 1 and rig.sync.stats["duplicate"] == 1
    entry = decisions[0]
    assert entry["target"] == f"edge:{EDGE}" and entry["trace_id"] == "t-1"
    assert entry["detail"]["message_id"] == first.id and entry["detail"]["text"] == "play jazz"
    assert entry["detail"]["site"] == "home"


async def test_commands_carry_an_expiry(rig: Rig) -> None:
    before = utcnow()
    await rig.sync.send_command(EDGE, DeviceCommand(device_id="light.kitchen", command="stop"), trace_id="t-2")
    mine = datetime(2030, 1, 1, tzinfo=UTC)
    await rig.sync.send_command(EDGE, DeviceCommand(device_id="light.kitchen", command="stop", expires_at=mine),
                                trace_id="t-3")
    sent = await rig.edge.wait_envelope(SyncType.COMMAND, DESIRED, count=2)
    stamped = [DeviceCommand.model_validate(e.payload).expires_at for e in sent]
    assert stamped[0] is not None and timedelta(seconds=59) < stamped[0] - before < timedelta(seconds=61)
    assert stamped[1] == mine  # a command's own expiry is kept


async def test_a_real_last_will_marks_the_edge_offline(broker: BrokerInfo) -> None:
    store = MemoryTwinStore()
    store.add_edge(EDGE)
    async with running_sync(broker, store):
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="will-edge")
        client.will_set(STATUS, encode({"state": "offline", "edge_id": EDGE}), qos=1, retain=True)
        client.connect(broker.host, broker.port, keepalive=5)
        client.loop_start()
        client.publish(STATUS, encode({"state": "online", "edge_id": EDGE}), qos=1, retain=True).wait_for_publish(5)
        await eventually(lambda: store.status_log == [(EDGE, True)], what="online")
        sock = client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)  # a crash: no DISCONNECT, so the broker sends the will
        await eventually(lambda: store.status_log[-1:] == [(EDGE, False)], what="last will")
        client.loop_stop()


async def test_sync_works_on_the_sqlite_store(broker: BrokerInfo, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "cloud.db")
    await store.open()
    try:
        await store.upsert_edge(EDGE, site="home")
        async with mqtt_peer(broker.host, broker.port, name="edge") as edge, running_sync(broker, store) as sync:
            full = FullTwin(side="reported", devices=[DeviceInfo(device_id="light.a", domain="light", name="A")],
                            twins=[TwinDelta(device_id="light.a", side="reported",
                                             values={"state": TwinValue(value="ON", version=2)})])
            await edge.send(REPORTED, SyncType.REPORTED_FULL, full.model_dump(mode="json"))
            await edge.send(REPORTED, SyncType.REPORTED, reported("light.a", state=("OFF", 1)))
            await eventually(lambda: sync.stats["stale"] == 1, what="stale on sqlite")
            record = await store.twin("light.a")
            assert record is not None and record.document.reported_values() == {"state": "ON"}
            assert (await store.get_device("light.a")).site == "home"  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_bus_refuses_to_publish_while_disconnected_and_backoff_is_capped() -> None:
    bus = MqttBus(BusSettings(port=1, client_id="nowhere"))
    with pytest.raises(TransportError):
        await bus.publish("a/b", b"x")
    rng = random.Random(1)
    delays = [backoff_delay(n, 0.5, 30.0, rng) for n in range(12)]
    assert all(0.25 <= d <= 30.0 for d in delays) and delays[-1] >= 15.0 and delays[0] <= 0.5
