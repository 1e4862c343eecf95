"""Uplink on a real broker: reported deltas up with versions, desired deltas down to a device, re-sync."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.config import MqttSettings
from edge.devices.entity import Entity
from edge.devices.executor import Executor
from edge.devices.registry import Registry
from edge.devices.twins import Twins
from edge.io.mqtt import PahoBus
from edge.io.outbox import Outbox
from edge.io.store import EdgeStore
from edge.uplink.twin_sync import Uplink
from shared.codec import encode
from shared.discovery import parse_discovery
from shared.envelope import utcnow
from shared.errors import PayloadError
from shared.sync import ApplyResult, EdgeEvent, FullTwin, SyncType
from shared.topics import EdgeChannel, edge_filter, edge_topic
from shared.twin import TwinDelta, TwinValue
from tests.cloud.twin_fakes import Peer, eventually, mqtt_peer
from tests.conftest import BrokerInfo

EDGE = "gw1"
STATE, COMMAND = "dev/l1", "dev/l1/set"
DESIRED = edge_topic(EDGE, EdgeChannel.TWIN_DESIRED)
REPORTED = edge_topic(EDGE, EdgeChannel.TWIN_REPORTED)
EVENTS = edge_topic(EDGE, EdgeChannel.EVENTS)
LIGHT = {"unique_id": "l1", "name": "Kitchen Light", "schema": "json", "brightness": True, "state_topic": STATE,
         "command_topic": COMMAND, "device": {"identifiers": ["l1"], "suggested_area": "Kitchen"}}


@dataclass
class EdgeRig:
    """An Uplink wired as the daemon wires it, a fake light, and a peer playing the cloud."""

    uplink: Uplink
    store: EdgeStore
    cloud: Peer
    device_state: dict[str, Any]
    commands: list[dict[str, Any]] = field(default_factory=list)

    async def set_by_hand(self, **state: Any) -> None:
        self.device_state.update(state)
        await self.cloud.bus.publish(STATE, json.dumps(self.device_state).encode(), qos=1)

    async def desired(self, version: int, *, kind: str = SyncType.DESIRED, device_id: str = "l1",
                      **values: Any) -> Any:
        delta = TwinDelta(device_id=device_id, side="desired",
                          values={k: TwinValue(value=v, version=version) for k, v in values.items()})
        payload = (FullTwin(side="desired", twins=[delta]) if kind == SyncType.DESIRED_FULL else delta)
        return await self.cloud.send(DESIRED, kind, payload.model_dump(mode="json"), source="cloud")

    async def results(self, count: int) -> list[ApplyResult]:
        found = await self.cloud.wait_envelope(SyncType.APPLIED, EVENTS, count=count)
        return [ApplyResult.model_validate(e.payload) for e in found]


def light() -> Entity:
    config = parse_discovery("light", json.dumps(LIGHT))
    assert config is not None
    entity = Entity.from_config(config, "homeassistant/light/l1/config")
    entity.available = True
    return entity


@contextlib.asynccontextmanager
async def edge_rig(broker: BrokerInfo, db: Path) -> AsyncIterator[EdgeRig]:
    store = EdgeStore(db)
    await store.open()
    registry = Registry()
    registry.put(light())
    twins = Twins(store)
    await twins.load()
    holder: list[Uplink] = []
    bus = PahoBus(MqttSettings(host=broker.host, port=broker.port), f"edge-{random.getrandbits(32)}",
                  on_connection_change=lambda up: holder[0].connection_changed(up) if holder else None)
    executor = Executor(bus, twins, timeout_s=2.0, slow_timeout_s=2.0)
    uplink = Uplink(EDGE, bus, registry, twins, store, executor, heartbeat_s=60)
    holder.append(uplink)
    await bus.subscribe(STATE)
    await uplink.start()
    filters = (REPORTED, EVENTS, edge_filter(EdgeChannel.STATUS, EDGE), COMMAND)
    async with mqtt_peer(broker.host, broker.port, *filters, name="cloud") as cloud:
        rig = EdgeRig(uplink, store, cloud, {"state": "OFF", "brightness": 100})

        async def route() -> None:  # what EdgeDaemon._dispatch does for these topics
            async for message in bus.messages():
                if message.topic == uplink.desired_topic:
                    with contextlib.suppress(PayloadError):
                        await uplink.handle(message.payload)
                elif message.topic == STATE:
                    entity = registry.get("l1")
                    assert entity is not None
                    values = entity.parse(entity.bindings()[0], message.payload)
                    if changed := await twins.report("l1", values):
                        await uplink.reported("l1", values, changed)
                message.ack()

        async def device() -> None:  # the light: applies commands and reports its state
            seen = 0
            while True:
                commands = [m for m in cloud.received if m.topic == COMMAND]
                for message in commands[seen:]:
                    command = json.loads(message.payload)
                    rig.commands.append(command)
                    await rig.set_by_hand(**command)
                seen = len(commands)
                await asyncio.sleep(0.01)

        tasks = [asyncio.create_task(route()), asyncio.create_task(device())]
        await bus.start(timeout=10)
        try:
            await cloud.wait_envelope(SyncType.REPORTED_FULL, REPORTED)  # sent on connect
            yield rig
        finally:
            await uplink.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await bus.stop()
            await store.close()


@pytest.fixture
async def rig(broker: BrokerInfo, tmp_path: Path) -> AsyncIterator[EdgeRig]:
    async with edge_rig(broker, tmp_path / "edge.db") as running:
        yield running


async def test_connect_announces_devices_heartbeat_and_asks_for_desired(rig: EdgeRig) -> None:
    [full] = rig.cloud.envelopes(REPORTED, SyncType.REPORTED_FULL)
    info = FullTwin.model_validate(full.payload).devices[0]
    assert (info.device_id, info.domain, info.name, info.area) == ("l1", "light", "Kitchen Light", "Kitchen")
    await rig.cloud.wait_envelope(SyncType.RESYNC, REPORTED)
    await eventually(lambda: any(m.topic == edge_topic(EDGE, EdgeChannel.STATUS)
                                 and json.loads(m.payload)["heartbeat_s"] == 60 for m in rig.cloud.received),
                     what="heartbeat")
    await rig.uplink.stop()  # a clean stop sends no last will, so the uplink says offline itself
    await eventually(lambda: json.loads(rig.cloud.received[-1].payload).get("state") == "offline", what="offline")


async def test_reported_changes_go_up_with_the_edges_versions(rig: EdgeRig) -> None:
    await rig.set_by_hand(state="ON")
    await rig.set_by_hand(state="OFF", brightness=50)
    found = await rig.cloud.wait_envelope(SyncType.REPORTED, REPORTED, count=2)
    deltas = [TwinDelta.model_validate(e.payload) for e in found]
    versions = [{k: (v.value, v.version) for k, v in d.values.items()} for d in deltas]
    assert versions == [{"state": ("ON", 1), "brightness": (100, 1)}, {"state": ("OFF", 2), "brightness": (50, 2)}]


async def test_desired_delta_drives_the_device_once_and_stale_versions_are_dropped(rig: EdgeRig) -> None:
    sent = await rig.desired(3, state="ON", brightness=255)
    [result] = await rig.results(1)
    assert (result.outcome, sorted(result.props)) == ("done", ["brightness", "state"])
    assert rig.cloud.envelopes(EVENTS, SyncType.APPLIED)[0].trace_id == sent.trace_id
    assert rig.device_state == {"state": "ON", "brightness": 255}
    rows = {r.prop: r.desired for r in await rig.store.twin("l1")}
    assert rows == {"state": "ON", "brightness": 255}
    # the same message again, and an older version: neither reaches the device; the older one is refused
    await rig.cloud.bus.publish(DESIRED, encode(sent), qos=1)
    await rig.desired(2, state="OFF")
    await rig.desired(4, state="ON")  # newer, but already so: done without a command
    results = await rig.results(3)
    assert (results[1].outcome, results[1].props) == ("superseded", ["state"])
    assert results[1].detail is not None and "state v2 < v3" in results[1].detail
    assert results[2].detail == "already in that state"
    assert rig.uplink.stats["duplicate"] == 1 and rig.uplink.stats["stale"] == 1
    assert len(rig.commands) == 1


async def test_an_older_desired_full_after_a_restart_is_refused(broker: BrokerInfo, tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    async with edge_rig(broker, db) as first:
        await first.desired(5, brightness=200)
        await first.results(1)
    async with edge_rig(broker, db) as second:  # a re-sync built before version 5 arrives after the restart
        await second.desired(4, kind=SyncType.DESIRED_FULL, brightness=100)
        [result] = await second.results(1)
        assert result.outcome == "superseded" and "brightness v4 < v5" in (result.detail or "")
        assert second.commands == [] and second.uplink.stats["superseded"] == 1


async def test_full_desired_after_restart_keeps_changes_made_by_hand(broker: BrokerInfo, tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    async with edge_rig(broker, db) as first:
        await first.desired(1, state="ON")
        await first.results(1)
        await first.set_by_hand(state="OFF")
        await eventually(lambda: len(first.cloud.envelopes(REPORTED, SyncType.REPORTED)) >= 2, what="report")
    async with edge_rig(broker, db) as second:
        await second.desired(1, kind=SyncType.DESIRED_FULL, state="ON", brightness=30)
        [result] = await second.results(1)
        assert result.props == ["brightness"]  # state ON was applied before the restart: the device's OFF stands
        assert second.commands == [{"state": "ON", "brightness": 30}]  # a level implies on: the light's own rule


async def test_resync_request_is_answered_with_the_full_reported_document(rig: EdgeRig) -> None:
    await rig.set_by_hand(state="ON")
    await rig.cloud.wait_envelope(SyncType.REPORTED, REPORTED)
    request = await rig.cloud.send(DESIRED, SyncType.RESYNC, {}, source="cloud")
    fulls = await rig.cloud.wait_envelope(SyncType.REPORTED_FULL, REPORTED, count=2)
    assert fulls[-1].trace_id == request.trace_id
    [twin] = FullTwin.model_validate(fulls[-1].payload).twins
    assert {k: (v.value, v.version) for k, v in twin.values.items()} == {"state": ("ON", 1), "brightness": (100, 1)}


async def test_bad_and_impossible_desired_changes(rig: EdgeRig) -> None:
    with pytest.raises(PayloadError):
        await rig.uplink.handle(b"not json")
    await rig.desired(1, device_id="l404", state="ON")
    await rig.desired(2, state="sideways")
    results = await rig.results(2)
    assert sorted(r.outcome for r in results) == ["unknown_device", "unsupported"]
    assert rig.commands == []
    # not applied, so not remembered as applied: the cloud's next full document will try again
    assert {r.prop: r.desired for r in await rig.store.twin("l1")} == {"state": None}


async def test_messages_the_full_outbox_dropped_are_reported_to_the_cloud_once(rig: EdgeRig, tmp_path: Path) -> None:
    full = Outbox(tmp_path / "outbox.db", max_messages=3)
    for i in range(7):  # made while the cloud was away: 4 dropped
        full.put(REPORTED if i % 2 else EVENTS, encode({"n": i}))
    full.close()
    outbox = Outbox(tmp_path / "outbox.db", max_messages=100)  # the count outlives a restart
    rig.uplink.outbox = outbox
    drain = asyncio.create_task(rig.uplink.run())
    try:
        rig.uplink.connection_changed(True)  # the link is back
        report = (await rig.cloud.wait_envelope(EdgeEvent.OUTBOX_OVERFLOW, EVENTS))[0]
        assert report.payload["dropped"] == 4 and report.payload["outbox_max"] == 100
        assert report.payload["by_topic"] == {EVENTS: 2, REPORTED: 2}
        await eventually(lambda: len(outbox) == 0, what="the rest drained")
        assert outbox.dropped_report() is None and rig.uplink.stats["dropped_reported"] == 4
        rig.uplink.connection_changed(True)  # another reconnect: nothing new to report
        await asyncio.sleep(0.2)
        assert len([m for m in rig.cloud.received if b"edge.outbox_overflow" in m.payload]) == 1
    finally:
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)
        outbox.close()


async def test_a_command_that_arrives_after_its_expiry_is_refused_with_a_reason(rig: EdgeRig) -> None:
    late = (utcnow() - timedelta(seconds=30)).isoformat()
    await rig.cloud.send(DESIRED, SyncType.COMMAND, {"device_id": "l1", "command": "turn_on", "expires_at": late},
                         source="cloud")
    fresh = (utcnow() + timedelta(seconds=30)).isoformat()
    await rig.cloud.send(DESIRED, SyncType.COMMAND, {"device_id": "l1", "command": "turn_on", "expires_at": fresh},
                         source="cloud")
    expired, done = await rig.results(2)
    assert expired.outcome == "expired" and "expired 30" in (expired.detail or "")
    assert done.outcome == "done" and len(rig.commands) == 1
    assert rig.uplink.stats["expired"] == 1


async def test_the_drain_sends_in_order_in_batches_of_the_configured_size(rig: EdgeRig, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_messages=100)
    for i in range(7):
        outbox.put(EVENTS, encode({"n": i}))
    peeks: list[int] = []
    peek = outbox.peek
    outbox.peek = lambda limit: (batch := peek(limit), peeks.append(len(batch)))[0]  # type: ignore[method-assign]
    rig.uplink.outbox, rig.uplink.outbox_batch = outbox, 3
    drain = asyncio.create_task(rig.uplink.run())
    try:
        rig.uplink.connection_changed(True)
        await eventually(lambda: len(outbox) == 0, what="the outbox drained")
        sent = [json.loads(m.payload)["n"] for m in rig.cloud.received if b'"n"' in m.payload]
        assert sent == list(range(7))
        # the reconnect queues its own reports too: every peek is bounded by the batch, none is lost
        assert max(peeks) == 3 and sum(peeks) == rig.uplink.stats["sent"] >= 7
    finally:
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)
        outbox.close()


async def test_concurrent_reports_share_outbox_commits_and_keep_their_order(rig: EdgeRig, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_messages=1000)
    commits: list[str] = []
    outbox._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    rig.uplink.outbox = outbox
    await asyncio.gather(*(rig.uplink.event("test.n", {"n": i}) for i in range(50)))
    queued = [json.loads(p.payload)["payload"]["n"] for p in outbox.peek(100)]
    assert queued == list(range(50))  # every caller returned after its own message was committed, in call order
    assert 1 <= len(commits) < 50  # group commit: the calls queued during a commit share the next one
    outbox.close()
