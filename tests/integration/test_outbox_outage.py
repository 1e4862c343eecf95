"""The cloud's broker goes down: the home keeps working, and every twin report reaches the cloud afterwards.

Local broker + simulated home + edge, with the uplink on a second Mosquitto (the cloud's broker, persistent so
a collector's session survives its restart). While that broker is down the edge serves every local command and
keeps its reports in the outbox; after it is back the outbox drains to zero and the collector has every reported
version once. The same run with the outbox turned off shows that the test detects loss.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoglm.simhome import SimulatedHome
from tests.conftest import BrokerInfo, mosquitto_binary
from tests.integration.conftest import Running, edge_settings, start_edge, wait_for
from tests.integration.outage import LIGHT, Collector, PersistentMosquitto

pytestmark = pytest.mark.integration

TOGGLES = 6


@pytest.fixture
def cloud_broker(tmp_path: Path) -> Iterator[PersistentMosquitto]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.fail("this test needs Mosquitto (apt-get install mosquitto)")
    (tmp_path / "cloud-broker").mkdir()
    server = PersistentMosquitto(binary, tmp_path / "cloud-broker")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def outage(broker: BrokerInfo, cloud_broker: PersistentMosquitto, data: Path, *, outbox: bool
                 ) -> tuple[list[int], list[int], list[str], int, list[str]]:
    """Toggle the light through an outage of the cloud's broker; (versions made, versions received, ids, queued)."""
    home = SimulatedHome(broker.host, broker.port, sensor_interval=60)
    await asyncio.to_thread(home.start)
    collector = Collector(cloud_broker.port)
    uplink = {"mqtt": {"host": "127.0.0.1", "port": cloud_broker.port, "reconnect_min_s": 0.1,
                       "reconnect_max_s": 0.5}, "outbox": outbox}
    settings = edge_settings(broker, data, uplink=uplink)
    try:
        async with start_edge(settings) as edge:
            running = Running(broker, home, edge, settings)
            await wait_for(lambda: len(edge.registry) >= len(home.device_ids), what="discovery")
            await wait_for(lambda: edge.uplink_bus.connected, what="uplink")
            await wait_for(lambda: bool(collector.state_versions()), what="the first full report")
            await asyncio.to_thread(collector.settle)  # the broker owes the collector nothing when it stops
            await asyncio.to_thread(cloud_broker.stop)
            await wait_for(lambda: not edge.uplink_bus.connected, what="uplink down")
            made: list[int] = []
            for i in range(TOGGLES):
                decision = await running.say(f"turn {'on' if i % 2 == 0 else 'off'} the kitchen lights")
                assert decision.outcome == "done", decision.reply  # the home works without the cloud
                rows = await edge.store.twin(LIGHT)
                made.append(next(r.reported_version for r in rows if r.prop == "state"))
            queued = len(edge.uplink.outbox) if edge.uplink.outbox is not None else 0
            await asyncio.to_thread(cloud_broker.start)
            await wait_for(lambda: edge.uplink_bus.connected, timeout=15, what="uplink back")
            if edge.uplink.outbox is not None:
                outbox_ = edge.uplink.outbox
                await wait_for(lambda: len(outbox_) == 0, timeout=15, what="outbox drained")
            await wait_for(lambda: max(collector.state_versions(), default=0) >= made[-1], timeout=15,
                           what="the latest state in the cloud")
            await asyncio.sleep(0.3)  # anything still in flight
            return made, collector.state_versions(), collector.ids(), queued, collector.redelivered_differently()
    finally:
        collector.stop()
        await asyncio.to_thread(home.stop)


async def test_reports_made_while_the_cloud_broker_is_down_all_arrive_once(
        broker: BrokerInfo, cloud_broker: PersistentMosquitto, tmp_path: Path) -> None:
    made, received, ids, queued, collector_redelivered = await outage(broker, cloud_broker, tmp_path / "edge",
                                                                       outbox=True)
    assert queued >= TOGGLES  # they waited in the outbox
    lost = sorted(set(made) - set(received))
    assert lost == [], f"reports lost: versions {lost}"
    # At-least-once: a message in flight when the broker stopped may arrive again, always with the same id and
    # contents, which the cloud drops as a duplicate (tests/cloud/test_twin_sync.py); never a different message.
    assert len(set(ids)) >= len(ids) - 5, "far more redeliveries than messages in flight"
    assert collector_redelivered == []


async def test_negative_control_without_the_outbox_reports_are_lost(
        broker: BrokerInfo, cloud_broker: PersistentMosquitto, tmp_path: Path) -> None:
    made, received, _, _, _ = await outage(broker, cloud_broker, tmp_path / "edge", outbox=False)
    lost = sorted(set(made) - set(received))
    assert lost, "without the outbox the outage should lose reports: the test cannot detect loss"
    assert made[-1] in received  # only the full re-sync after the reconnect carried the latest state


async def test_an_edge_restart_while_offline_loses_nothing(broker: BrokerInfo, cloud_broker: PersistentMosquitto,
                                                         tmp_path: Path) -> None:
    home = SimulatedHome(broker.host, broker.port, sensor_interval=60)
    await asyncio.to_thread(home.start)
    collector = Collector(cloud_broker.port)
    uplink = {"mqtt": {"host": "127.0.0.1", "port": cloud_broker.port, "reconnect_min_s": 0.1,
                       "reconnect_max_s": 0.5}}
    settings = edge_settings(broker, tmp_path / "edge", uplink=uplink)
    made: list[int] = []
    try:
        async with start_edge(settings) as edge:
            await wait_for(lambda: len(edge.registry) >= len(home.device_ids), what="discovery")
            await wait_for(lambda: bool(collector.state_versions()), what="the first full report")
            await asyncio.to_thread(cloud_broker.stop)
            await wait_for(lambda: not edge.uplink_bus.connected, what="uplink down")
            running = Running(broker, home, edge, settings)
            for i in range(3):
                assert (await running.say(f"turn {'on' if i % 2 == 0 else 'off'} the kitchen lights")).outcome \
                    == "done"
                rows = await edge.store.twin(LIGHT)
                made.append(next(r.reported_version for r in rows if r.prop == "state"))
            assert edge.uplink.outbox is not None and len(edge.uplink.outbox) >= 3
        # the edge is stopped with its reports unsent; it starts again while the cloud is still away
        async with start_edge(settings) as edge:
            assert edge.uplink.outbox is not None and len(edge.uplink.outbox) >= 3  # still there after the restart
            await asyncio.to_thread(cloud_broker.start)
            outbox_ = edge.uplink.outbox
            await wait_for(lambda: len(outbox_) == 0, timeout=20, what="outbox drained after the restart")
            await wait_for(lambda: max(collector.state_versions(), default=0) >= made[-1], timeout=15,
                           what="the latest state in the cloud")
        lost = sorted(set(made) - set(collector.state_versions()))
        assert lost == [], f"reports lost across the restart: versions {lost}"
    finally:
        collector.stop()
        await asyncio.to_thread(home.stop)
