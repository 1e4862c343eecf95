"""A redelivered state message that changes nothing is reported to the cloud again: the edge may have stopped
after committing the change and before queueing its report."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from edge.config import load_settings
from edge.daemon import EdgeDaemon
from edge.devices.entity import Entity
from edge.io.mqtt import Message
from shared.discovery import parse_discovery

CONFIG = b'{"unique_id": "meter", "name": "Meter", "state_topic": "sim/meter/state"}'


async def daemon_with_meter(tmp_path: Path) -> tuple[EdgeDaemon, list[tuple[str, dict[str, Any], dict[str, int]]]]:
    (tmp_path / "no-model").mkdir()
    daemon = EdgeDaemon(load_settings(None, data_dir=tmp_path / "edge", model_dir=tmp_path / "no-model"))
    await daemon.store.open()
    config = parse_discovery("sensor", CONFIG)
    assert config is not None
    daemon.registry.put(Entity.from_config(config, "homeassistant/sensor/meter/config"))
    sent: list[tuple[str, dict[str, Any], dict[str, int]]] = []

    async def reported(device_id: str, values: dict[str, Any], versions: dict[str, int]) -> None:
        sent.append((device_id, values, versions))

    daemon.uplink.reported = reported  # type: ignore[method-assign]  # records what would go to the outbox
    return daemon, sent


async def handled(daemon: EdgeDaemon, payload: bytes, *, dup: bool = False, mid: int = 0) -> list[str]:
    """Handle one state message and wait for its reports; what was acknowledged."""
    acked: list[str] = []
    await daemon.handle(Message("sim/meter/state", payload, 1, False, lambda: acked.append("ack"), dup=dup,
                                mid=mid))
    await daemon.reports_stored()
    return acked


async def test_a_redelivered_unchanged_value_is_reported_again_under_its_committed_version(tmp_path: Path) -> None:
    daemon, sent = await daemon_with_meter(tmp_path)
    assert await handled(daemon, b"41") == ["ack"]
    assert await handled(daemon, b"42") == ["ack"]
    assert sent == [("meter", {"value": 41}, {"value": 1}), ("meter", {"value": 42}, {"value": 2})]
    assert await handled(daemon, b"42", dup=True) == ["ack"]  # the broker sends it again
    assert sent[-1] == ("meter", {"value": 42}, {"value": 2}) and len(sent) == 3
    await daemon.store.close()


async def test_a_first_delivery_that_changes_nothing_is_not_reported(tmp_path: Path) -> None:
    daemon, sent = await daemon_with_meter(tmp_path)
    await handled(daemon, b"42")
    assert await handled(daemon, b"42") == ["ack"]  # a device repeating itself: nothing new, acknowledged at once
    assert len(sent) == 1
    await daemon.store.close()


async def test_state_messages_are_acknowledged_in_arrival_order_once_their_reports_are_stored(
        tmp_path: Path) -> None:
    daemon, sent = await daemon_with_meter(tmp_path)
    gates: list[asyncio.Event] = []

    async def slow_report(device_id: str, values: dict[str, Any], versions: dict[str, int]) -> None:
        gate = asyncio.Event()
        gates.append(gate)
        await gate.wait()  # the outbox's commit, held
        sent.append((device_id, values, versions))

    daemon.uplink.reported = slow_report  # type: ignore[method-assign]
    acked: list[int] = []
    for n in range(3):  # the router does not wait for the commits
        await daemon.handle(Message("sim/meter/state", str(n).encode(), 1, False, lambda n=n: acked.append(n)))
    await asyncio.sleep(0.05)
    assert len(gates) == 3 and acked == []
    gates[2].set()  # the last one stored first: nothing is acknowledged ahead of the messages before it
    await asyncio.sleep(0.05)
    assert acked == []
    gates[0].set()
    await asyncio.sleep(0.05)
    assert acked == [0]
    gates[1].set()
    await daemon.reports_stored()
    assert acked == [0, 1, 2] and [v["value"] for _, v, _ in sent] == [2, 0, 1]  # stored order; acks: arrival
    await daemon.store.close()


async def test_redelivered_messages_applied_before_a_stop_do_not_roll_the_twin_back(tmp_path: Path) -> None:
    daemon, sent = await daemon_with_meter(tmp_path)
    for mid, value in ((1, b"10"), (2, b"11"), (3, b"12")):  # applied; a stop before their acknowledgements
        await handled(daemon, value, mid=mid)
    assert [versions for _, _, versions in sent] == [{"value": 1}, {"value": 2}, {"value": 3}]
    for mid, value in ((1, b"10"), (2, b"11"), (3, b"12")):  # the broker sends them again, in order
        assert await handled(daemon, value, dup=True, mid=mid) == ["ack"]
    assert daemon.twins.values("meter") == {"value": 12.0}
    assert [r.reported_version for r in await daemon.store.twin("meter")] == [3]  # no new versions
    assert sent[3:] == [("meter", {"value": 12.0}, {"value": 3})] * 3  # the committed value again, never 10 or 11
    # a redelivered message the edge never applied (a stop before its commit) is a change like any other
    assert await handled(daemon, b"13", dup=True, mid=4) == ["ack"]
    assert daemon.twins.values("meter") == {"value": 13.0} and sent[-1][2] == {"value": 4}
    await daemon.store.close()


async def test_negative_control_without_marks_redeliveries_roll_the_twin_back(tmp_path: Path) -> None:
    daemon, _sent = await daemon_with_meter(tmp_path)
    for mid, value in ((1, b"10"), (2, b"11"), (3, b"12")):
        await handled(daemon, value, mid=mid)
    for value in (b"10", b"11", b"12"):  # no packet id: nothing tells an applied message from a new one
        await handled(daemon, value, dup=True, mid=0)
    assert [r.reported_version for r in await daemon.store.twin("meter")] == [6]  # 10 and 11 came back as changes
    await daemon.store.close()
