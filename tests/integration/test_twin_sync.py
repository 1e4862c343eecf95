"""Simulated home + edge daemon + cloud TwinSync on one real broker: both sides of the twin converge."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from cloud.bus import BusSettings, MqttBus
from cloud.commander import MqttEdgeCommander
from cloud.twin_sync import TwinSync
from shared.sync import SyncType
from shared.topics import EdgeChannel, edge_topic
from shared.twin import TwinDelta, TwinValue
from tests.cloud.twin_fakes import MemoryTwinStore, Peer, mqtt_peer
from tests.integration.conftest import EDGE_ID, Running, wait_for

pytestmark = pytest.mark.integration

LIGHT = "autoglm_sim_kitchen_light"
REPORTED = edge_topic(EDGE_ID, EdgeChannel.TWIN_REPORTED)


@dataclass
class Cloud:
    """The cloud side: twin sync, commander, store, and a peer that can publish like anyone on the broker."""

    sync: TwinSync
    commander: MqttEdgeCommander
    store: MemoryTwinStore
    peer: Peer


@pytest.fixture
async def cloud(running: Running) -> AsyncIterator[Cloud]:
    store = MemoryTwinStore()
    store.add_edge(EDGE_ID, site="home")
    bus = MqttBus(BusSettings(host=running.broker.host, port=running.broker.port,
                              client_id=f"cloud-{random.getrandbits(32)}", reconnect_min_s=0.05))
    sync = TwinSync(bus, store)
    commander = MqttEdgeCommander(sync, store, bus)
    await sync.start()
    await bus.start(timeout=10)
    task = asyncio.create_task(sync.run())
    try:
        async with mqtt_peer(running.broker.host, running.broker.port, name="peer") as peer:
            await wait_for(lambda: {e.device_id for e in running.edge.registry.entities()} <= set(store.devices)
                           and bool(store.reported(LIGHT)), what="devices registered in the cloud")
            yield Cloud(sync, commander, store, peer)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await bus.stop()


def command_topic(running: Running, device_id: str) -> str:
    entity = running.edge.registry.get(device_id)
    assert entity is not None and entity.config.command_topic
    return entity.config.command_topic


async def test_reported_state_reaches_the_cloud_with_versions(running: Running, cloud: Cloud) -> None:
    device = cloud.store.devices[LIGHT]
    assert (device.edge_id, device.site, device.domain, device.area) == (EDGE_ID, "home", "light", "Kitchen")
    before = cloud.store.reported(LIGHT)["state"]
    assert before.value == "OFF"
    # someone switches the light at the wall (a command that bypasses edge and cloud)
    await cloud.peer.bus.publish(command_topic(running, LIGHT), b'{"state": "ON"}', qos=1)
    await wait_for(lambda: cloud.store.reported(LIGHT)["state"].value == "ON", what="reported ON in the cloud")
    assert cloud.store.reported(LIGHT)["state"].version > before.version


async def test_a_desired_change_reaches_the_device_and_is_confirmed(running: Running, cloud: Cloud) -> None:
    device = cloud.store.devices[LIGHT]
    state = await cloud.commander.act(device, "light.turn_on", {"brightness_pct": 50}, trace_id="it-1", timeout_s=10)
    assert (state["state"], state["brightness"]) == ("ON", 128)
    assert (running.home.state("kitchen_light")["state"], running.home.state("kitchen_light")["brightness"]) == (
        "ON", 128)
    assert cloud.store.props[LIGHT]["brightness"].desired.value == 128  # type: ignore[union-attr]


async def test_stale_and_malformed_reports_are_dropped_and_the_sync_goes_on(running: Running, cloud: Cloud) -> None:
    current = cloud.store.reported(LIGHT)["state"]
    stale = TwinDelta(device_id=LIGHT, side="reported",
                      values={"state": TwinValue(value="ON", version=current.version)})
    await cloud.peer.send(REPORTED, SyncType.REPORTED, stale.model_dump(mode="json"), source=f"edge:{EDGE_ID}")
    await cloud.peer.bus.publish(REPORTED, b'{"type": "twin.reported", "payload": "nope"}', qos=1)
    await cloud.peer.bus.publish(REPORTED, b"\xff\xfe", qos=1)
    await wait_for(lambda: cloud.sync.stats["stale"] >= 1 and cloud.sync.stats["malformed"] >= 2, what="drops")
    assert cloud.store.reported(LIGHT)["state"] == current
    await cloud.peer.bus.publish(command_topic(running, LIGHT), b'{"state": "ON"}', qos=1)
    await wait_for(lambda: cloud.store.reported(LIGHT)["state"].value == "ON", what="sync still running")


async def test_last_will_then_reconnect_resyncs_both_sides(running: Running, cloud: Cloud) -> None:
    resyncs = cloud.sync.stats["resyncs"]
    async with mqtt_peer(running.broker.host, running.broker.port, REPORTED, name="watcher") as watcher:
        sock = running.edge.uplink_bus._client.socket()  # a crash (no DISCONNECT): the broker sends the last will
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        await wait_for(lambda: cloud.sync.edge_online(EDGE_ID) is False, what="offline from the last will")
        assert cloud.store.edges[EDGE_ID].online is False
        # a desired change made while the edge is away is stored and reaches the device after the reconnect
        await cloud.sync.update_desired(LIGHT, {"state": "ON"}, trace_id="while-offline")
        await wait_for(lambda: cloud.sync.edge_online(EDGE_ID) is True, timeout=15, what="edge back online")
        await wait_for(lambda: len(watcher.envelopes(REPORTED, SyncType.REPORTED_FULL)) >= 1, what="full report")
    assert cloud.sync.stats["resyncs"] > resyncs
    await wait_for(lambda: running.home.state("kitchen_light")["state"] == "ON", what="desired applied")
    await wait_for(lambda: cloud.store.reported(LIGHT)["state"].value == "ON", what="confirmed in the cloud")
    assert [status for edge, status in cloud.store.status_log if edge == EDGE_ID][-2:] == [False, True]
