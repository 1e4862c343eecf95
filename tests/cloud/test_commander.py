"""MqttEdgeCommander: service -> twin change, confirmation from the reported twin, errors, utterances."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from cloud.commander import MqttEdgeCommander, translate
from cloud.fleet import Device
from cloud.twin_sync import TwinSync
from shared.codec import encode
from shared.decision import Utterance
from shared.errors import (
    DeviceRejectedError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    UnsupportedActionError,
)
from shared.sync import DeviceCommand, SyncType
from shared.topics import EdgeChannel, edge_filter, edge_topic
from shared.twin import TwinDelta, TwinValue
from tests.cloud.test_twin_sync import running_sync
from tests.cloud.twin_fakes import MemoryTwinStore, Peer, mqtt_peer
from tests.conftest import BrokerInfo

EDGE = "gw1"
LIGHT = Device("light.kitchen", EDGE, "home", "light", "Kitchen Light")
COVER = Device("cover.curtains", EDGE, "home", "cover", "Curtains")


def test_translate_maps_services_to_twin_values() -> None:
    assert translate(LIGHT, "light.turn_on", {"brightness_pct": 50}, {}).desired == {"state": "ON", "brightness": 128}
    assert translate(LIGHT, "turn_on", {"brightness_pct": 0}, {}).desired == {"state": "OFF"}
    assert translate(LIGHT, "toggle", {}, {"state": "ON"}).desired == {"state": "OFF"}
    assert translate(LIGHT, "turn_on", {"color_name": "Red"}, {}).desired["color"] == {"r": 255, "g": 0, "b": 0}
    lock = Device("lock.front", EDGE, "home", "lock", "Front")
    assert translate(lock, "unlock", {}, {}).expect == {"state": ["UNLOCKED"]}
    climate = Device("climate.t", EDGE, "home", "climate", "T")
    assert translate(climate, "set_temperature", {"temperature": 22}, {}).desired == {"target_temperature": 22.0}
    assert translate(climate, "turn_off", {}, {}).desired == {"hvac_mode": "off"}
    assert translate(COVER, "set_cover_position", {"position": 40}, {}).desired == {"position": 40}
    assert translate(COVER, "stop_cover", {}, {}).command == DeviceCommand(device_id=COVER.device_id, command="stop")
    media = Device("media_player.s", EDGE, "home", "media_player", "S")
    assert translate(media, "volume_set", {"volume_level": 35}, {}).desired == {"volume": 0.35}
    vacuum = Device("vacuum.v", EDGE, "home", "vacuum", "V")
    assert translate(vacuum, "return_to_base", {}, {}).expect == {"state": ["returning", "docked"]}


@pytest.mark.parametrize(("device", "service", "args"), [
    (LIGHT, "unlock", {}),
    (LIGHT, "turn_on", {"brightness_pct": 150}),
    (LIGHT, "turn_on", {"color_name": "ultraviolet"}),
    (Device("sensor.t", EDGE, "home", "sensor", "T"), "turn_on", {}),
])
def test_translate_refuses_what_the_device_cannot_do(device: Device, service: str, args: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedActionError):
        translate(device, service, args, {})


@dataclass
class Rig:
    commander: MqttEdgeCommander
    sync: TwinSync
    store: MemoryTwinStore
    edge: Peer


@pytest.fixture
async def rig(broker: BrokerInfo) -> AsyncIterator[Rig]:
    store = MemoryTwinStore()
    store.add_edge(EDGE)
    store.add_device(LIGHT.device_id, EDGE, "light")
    store.add_device(COVER.device_id, EDGE, "cover")
    filters = (edge_filter(EdgeChannel.TWIN_DESIRED, EDGE), edge_filter(EdgeChannel.UTTERANCES, EDGE))
    async with mqtt_peer(broker.host, broker.port, *filters, name="edge") as edge, \
            running_sync(broker, store) as sync:
        yield Rig(MqttEdgeCommander(sync, store, sync.bus), sync, store, edge)


@contextlib.asynccontextmanager
async def device_answers(edge: Peer, reply: Any) -> AsyncIterator[None]:
    """Play the edge: on each desired delta or command, call `reply(envelope)` (a coroutine)."""
    async def loop() -> None:
        handled = 0
        while True:
            found = edge.envelopes(edge_topic(EDGE, EdgeChannel.TWIN_DESIRED))
            for envelope in found[handled:]:
                await reply(envelope)
            handled = len(found)
            await asyncio.sleep(0.01)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_act_returns_once_the_reported_twin_shows_the_change(rig: Rig) -> None:
    version = 0

    async def confirm(envelope: Any) -> None:
        nonlocal version
        if envelope.type != SyncType.DESIRED:
            return
        delta = TwinDelta.model_validate(envelope.payload)
        version += 1
        values = {k: TwinValue(value=v.value, version=version) for k, v in delta.values.items()}
        await rig.edge.send(edge_topic(EDGE, EdgeChannel.TWIN_REPORTED), SyncType.REPORTED,
                            TwinDelta(device_id=delta.device_id, side="reported", values=values).model_dump(
                                mode="json"), trace_id=envelope.trace_id)

    async with device_answers(rig.edge, confirm):
        state = await rig.commander.act(LIGHT, "light.turn_on", {"brightness_pct": 100}, trace_id="tr-1",
                                        timeout_s=5)
    assert state == {"state": "ON", "brightness": 255}
    [envelope] = rig.edge.envelopes(kind=SyncType.DESIRED)
    assert envelope.trace_id == "tr-1"
    assert await rig.commander.state(LIGHT) == {"state": "ON", "brightness": 255}
    assert rig.store.props[LIGHT.device_id]["state"].desired.value == "ON"  # type: ignore[union-attr]


async def test_act_times_out_without_a_confirmation(rig: Rig) -> None:
    with pytest.raises(DeviceTimeoutError):
        await rig.commander.act(LIGHT, "turn_off", {}, trace_id="tr-2", timeout_s=0.3)


async def test_act_fails_fast_on_the_edges_error(rig: Rig) -> None:
    async def reject(envelope: Any) -> None:
        await rig.edge.send(edge_topic(EDGE, EdgeChannel.EVENTS), SyncType.APPLIED,
                            {"device_id": LIGHT.device_id, "outcome": "rejected", "detail": "no"},
                            trace_id=envelope.trace_id)

    async with device_answers(rig.edge, reject):
        with pytest.raises(DeviceRejectedError):
            await rig.commander.act(LIGHT, "turn_on", {}, trace_id="tr-3", timeout_s=5)


async def test_momentary_commands_finish_on_the_edges_result(rig: Rig) -> None:
    async def done(envelope: Any) -> None:
        assert envelope.type == SyncType.COMMAND
        command = DeviceCommand.model_validate(envelope.payload)
        await rig.edge.send(edge_topic(EDGE, EdgeChannel.EVENTS), SyncType.APPLIED,
                            {"device_id": command.device_id, "outcome": "done"}, trace_id=envelope.trace_id)

    async with device_answers(rig.edge, done):
        assert await rig.commander.act(COVER, "stop_cover", {}, trace_id="tr-4", timeout_s=5) == {}


async def test_act_on_an_offline_edge_is_unavailable(rig: Rig) -> None:
    await rig.edge.bus.publish(edge_topic(EDGE, EdgeChannel.STATUS), encode({"state": "offline"}), qos=1)
    for _ in range(500):
        if rig.sync.edge_online(EDGE) is False:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(DeviceUnavailableError):
        await rig.commander.act(LIGHT, "turn_on", {}, trace_id="tr-5", timeout_s=1)
    assert rig.edge.envelopes(kind=SyncType.DESIRED) == []


async def test_send_utterance_reaches_the_edges_utterance_channel(rig: Rig) -> None:
    await rig.commander.send_command(EDGE, "turn on the kitchen light", language="en", trace_id="tr-6",
                                     command_id="cmd-1")
    [envelope] = await rig.edge.wait_envelope("utterance", edge_topic(EDGE, EdgeChannel.UTTERANCES))
    utterance = Utterance.model_validate({**envelope.payload, "trace_id": envelope.trace_id})
    assert (envelope.id, utterance.trace_id, utterance.text, utterance.language) == (
        "cmd-1", "tr-6", "turn on the kitchen light", "en")
