"""Device messages taken in: a redelivered state message that changes nothing is reported to the cloud again
(the edge may have stopped after committing the change and before queueing its report); acknowledgements keep
arrival order once reports are stored; redeliveries of applied messages never roll a twin back."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edge.devices.entity import Entity
from edge.devices.ingest import DeviceIngest
from edge.devices.registry import Registry
from edge.devices.twins import Twins
from edge.io.store import EdgeStore
from edge.ports import Message
from shared.discovery import parse_discovery
from shared.errors import StorageError

CONFIG = b'{"unique_id": "meter", "name": "Meter", "state_topic": "sim/meter/state"}'
Report = Callable[[str, dict[str, Any], dict[str, int]], Awaitable[None]]


class NoBus:
    """The ingest subscribes through it; these tests hand messages in directly."""

    connected = True

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        return None

    async def unsubscribe(self, topic_filter: str) -> None:
        return None


class Rig:
    """A meter in the registry, a real edge.db, and a reporter that records what would go to the outbox."""

    def __init__(self, store: EdgeStore) -> None:
        self.store = store
        self.registry = Registry()
        config = parse_discovery("sensor", CONFIG)
        assert config is not None
        self.registry.put(Entity.from_config(config, "homeassistant/sensor/meter/config"))
        self.twins = Twins(store)
        self.sent: list[tuple[str, dict[str, Any], dict[str, int]]] = []
        self.reporter: Report = self.record
        self.ingest = DeviceIngest(self.registry, self.twins, store, NoBus(), self.report)  # type: ignore[arg-type]

    async def record(self, device_id: str, values: dict[str, Any], versions: dict[str, int]) -> None:
        self.sent.append((device_id, values, versions))

    async def report(self, device_id: str, values: dict[str, Any], versions: dict[str, int]) -> None:
        await self.reporter(device_id, values, versions)

    async def handle(self, message: Message) -> None:
        kind = self.ingest.kind(message.topic)
        assert kind == "state"
        await self.ingest.handle(kind, message)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = EdgeStore(tmp_path / "edge.db")
    await store.open()
    yield Rig(store)
    await store.close()


async def handled(rig: Rig, payload: bytes, *, dup: bool = False, mid: int = 0) -> list[str]:
    """Handle one state message and wait for its reports; what was acknowledged."""
    acked: list[str] = []
    await rig.handle(Message("sim/meter/state", payload, 1, False, lambda: acked.append("ack"), dup=dup, mid=mid))
    await rig.ingest.reports_stored()
    return acked


async def test_a_redelivered_unchanged_value_is_reported_again_under_its_committed_version(rig: Rig) -> None:
    sent = rig.sent
    assert await handled(rig, b"41") == ["ack"]
    assert await handled(rig, b"42") == ["ack"]
    assert sent == [("meter", {"value": 41}, {"value": 1}), ("meter", {"value": 42}, {"value": 2})]
    assert await handled(rig, b"42", dup=True) == ["ack"]  # the broker sends it again
    assert sent[-1] == ("meter", {"value": 42}, {"value": 2}) and len(sent) == 3


async def test_a_first_delivery_that_changes_nothing_is_not_reported(rig: Rig) -> None:
    sent = rig.sent
    await handled(rig, b"42")
    assert await handled(rig, b"42") == ["ack"]  # a device repeating itself: nothing new, acknowledged at once
    assert len(sent) == 1


async def test_state_messages_are_acknowledged_in_arrival_order_once_their_reports_are_stored(rig: Rig) -> None:
    sent = rig.sent
    gates: list[asyncio.Event] = []

    async def slow_report(device_id: str, values: dict[str, Any], versions: dict[str, int]) -> None:
        gate = asyncio.Event()
        gates.append(gate)
        await gate.wait()  # the outbox's commit, held
        sent.append((device_id, values, versions))

    rig.reporter = slow_report
    acked: list[int] = []
    for n in range(3):  # the router does not wait for the commits
        await rig.handle(Message("sim/meter/state", str(n).encode(), 1, False, lambda n=n: acked.append(n)))
    await asyncio.sleep(0.05)
    assert len(gates) == 3 and acked == []
    gates[2].set()  # the last one stored first: nothing is acknowledged ahead of the messages before it
    await asyncio.sleep(0.05)
    assert acked == []
    gates[0].set()
    await asyncio.sleep(0.05)
    assert acked == [0]
    gates[1].set()
    await rig.ingest.reports_stored()
    assert acked == [0, 1, 2] and [v["value"] for _, v, _ in sent] == [2, 0, 1]  # stored order; acks: arrival


async def test_redelivered_messages_applied_before_a_stop_do_not_roll_the_twin_back(rig: Rig) -> None:
    sent = rig.sent
    for mid, value in ((1, b"10"), (2, b"11"), (3, b"12")):  # applied; a stop before their acknowledgements
        await handled(rig, value, mid=mid)
    assert [versions for _, _, versions in sent] == [{"value": 1}, {"value": 2}, {"value": 3}]
    for mid, value in ((1, b"10"), (2, b"11"), (3, b"12")):  # the broker sends them again, in order
        assert await handled(rig, value, dup=True, mid=mid) == ["ack"]
    assert rig.twins.values("meter") == {"value": 12.0}
    assert [r.reported_version for r in await rig.store.twin("meter")] == [3]  # no new versions
    assert sent[3:] == [("meter", {"value": 12.0}, {"value": 3})] * 3  # the committed value again, never 10 or 11
    # a redelivered message the edge never applied (a stop before its commit) is a change like any other
    assert await handled(rig, b"13", dup=True, mid=4) == ["ack"]
    assert rig.twins.values("meter") == {"value": 13.0} and sent[-1][2] == {"value": 4}


async def test_negative_control_without_marks_redeliveries_roll_the_twin_back(rig: Rig) -> None:
    for mid, value in ((1, b"10"), (2, b"11"), (3, b"12")):
        await handled(rig, value, mid=mid)
    for value in (b"10", b"11", b"12"):  # no packet id: nothing tells an applied message from a new one
        await handled(rig, value, dup=True, mid=0)
    assert [r.reported_version for r in await rig.store.twin("meter")] == [6]  # 10 and 11 came back as changes


async def test_a_state_message_whose_second_device_cannot_be_stored_leaves_no_report_half_made(rig: Rig) -> None:
    # a second meter on the same state topic, whose commit the store refuses (a full disk)
    config = parse_discovery("sensor", CONFIG.replace(b'"meter"', b'"meter2"'))
    assert config is not None
    rig.registry.put(Entity.from_config(config, "homeassistant/sensor/meter2/config"))
    store = rig.store
    apply_reported = store.apply_reported

    async def refusing(device_id: str, values: dict[str, Any], mark: str | None = None) -> dict[str, int]:
        if device_id == "meter2":
            raise StorageError("edge database is full")
        return await apply_reported(device_id, values, mark)

    store.apply_reported = refusing  # type: ignore[method-assign]
    acked: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(StorageError):
            await rig.handle(Message("sim/meter/state", b"41", 1, False, lambda: acked.append("ack")))
        gc.collect()
    # nothing is reported for a message that failed (its redelivery reports it), and no report was left unmade
    assert rig.sent == [] and acked == []
    assert not [w for w in caught if "never awaited" in str(w.message)]
