"""The edge's cloud fallback on real parts: broker, simulated home, edge daemon, the cloud app under uvicorn.

What the edge cannot do goes to `POST /v1/plan` and is run by the cloud, whose executor sends the commands back
through the edge; with the cloud stopped or black-holed, local commands are still served and cloud-needing
requests get a clear answer, fast once the breaker is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from autoglm.simhome import SimulatedHome
from autoglm.trace import timeline
from bench.reliability.procs import free_port
from cloud.app import create_app
from cloud.auth import issue_token
from cloud.bus import BusSettings
from cloud.fleet import Device
from cloud.mqtt_link import open_mqtt_link
from cloud.settings import CloudSettings, PlannerSettings
from cloud.sqlite_store import SqliteStore
from edge.io.breaker import BreakerState
from shared.plan import Plan, PlanRequest, PlanStep
from tests.conftest import BrokerInfo
from tests.integration.conftest import EDGE_ID, Running, edge_settings, serve_app, start_edge, wait_for

pytestmark = pytest.mark.integration

#: Nothing the edge's stages understand; the test planner reads "party" as "kitchen lights on".
CLOUD_ONLY = "throw a party in the kitchen"


class PartyPlanner:
    """Turns on the lights of the area named in a 'party' request; plans nothing for anything else."""

    model_name = "party-planner"

    async def propose(self, request: PlanRequest, devices: list[Device], *, trace_id: str) -> Plan:
        if "party" not in request.text:
            return Plan(steps=[])
        lights = [d for d in devices if d.domain == "light" and d.area and d.area.lower() in request.text.lower()]
        return Plan(steps=[PlanStep(id=f"s{i + 1}", tool="light.turn_on", args={"device_id": d.device_id})
                           for i, d in enumerate(lights)])


@contextlib.asynccontextmanager
async def serve_cloud(broker: BrokerInfo, db: Path, port: int) -> AsyncIterator[None]:
    """The cloud app under a real uvicorn server on `port`, for the duration of the block."""
    bus = BusSettings(host=broker.host, port=broker.port, client_id=f"cloud-{random.getrandbits(32)}",
                      reconnect_min_s=0.05)
    settings = CloudSettings(db_path=db, planner=PlannerSettings(lazy_load=True), mqtt=bus)
    app = create_app(settings, store=SqliteStore(db), planner=PartyPlanner(),
                     link_factory=lambda s: open_mqtt_link(bus, s, step_timeout_s=10.0))
    async with serve_app(app, port):
        yield


@contextlib.asynccontextmanager
async def black_hole(port: int) -> AsyncIterator[None]:
    """Accepts connections on `port` and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", port)
    try:
        yield
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@dataclass
class Hybrid:
    """Home + edge (with a cloud url) + how to start the cloud."""

    running: Running
    broker: BrokerInfo
    db: Path
    port: int


@pytest.fixture
async def hybrid(broker: BrokerInfo, tmp_path: Path) -> AsyncIterator[Hybrid]:
    async with start_hybrid(broker, tmp_path, {"minimum_calls": 2, "window_size": 4, "open_s": 60.0}) as running:
        yield running


@contextlib.asynccontextmanager
async def start_hybrid(broker: BrokerInfo, tmp_path: Path, breaker: dict[str, float],
                       **cloud_settings: object) -> AsyncIterator[Hybrid]:
    """Home + edge with a cloud url (the cloud itself is started by the test, on `port`)."""
    db = tmp_path / "cloud.db"
    setup = SqliteStore(db)
    await setup.open()
    await setup.upsert_edge(EDGE_ID, site="home", name="test home")
    credential = issue_token("edge", edge_id=EDGE_ID)
    await setup.add_token(credential.record)
    await setup.close()
    port = free_port()
    home = SimulatedHome(broker.host, broker.port, sensor_interval=0.5)
    await asyncio.to_thread(home.start)
    cloud = {"url": f"http://127.0.0.1:{port}", "token": credential.secret, "breaker": breaker, **cloud_settings}
    settings = edge_settings(broker, tmp_path / "edge", cloud=cloud)
    try:
        async with start_edge(settings) as edge:
            await wait_for(lambda: len(edge.registry) >= len(home.device_ids)
                           and all(e.available for e in edge.registry.entities()), what="discovery")
            yield Hybrid(Running(broker, home, edge, settings), broker, db, port)
    finally:
        await asyncio.to_thread(home.stop)


async def cloud_knows_the_light(db: Path) -> None:
    """Wait until the cloud has learned the edge's devices over the MQTT twin sync."""
    store = SqliteStore(db)
    await store.open()
    try:
        for _ in range(200):
            if await store.get_device("autoglm_sim_kitchen_light") is not None:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the cloud never learned the kitchen light")
    finally:
        await store.close()


async def test_what_the_edge_cannot_do_is_planned_and_run_by_the_cloud(hybrid: Hybrid) -> None:
    running = hybrid.running
    async with serve_cloud(hybrid.broker, hybrid.db, hybrid.port):
        await running.say("turn off the kitchen lights")
        await cloud_knows_the_light(hybrid.db)
        decision = await running.say(CLOUD_ONLY)
        assert decision.outcome == "planned", decision.reply
        assert decision.source == "cloud" and decision.plan_id
        assert decision.model_version == "party-planner"
        await wait_for(lambda: running.home.state("kitchen_light")["state"] == "ON", what="the planned light on")
        # one trace id from the utterance through the edge, the cloud's plan and its steps
        whats: list[tuple[str, str]] = []
        for _ in range(100):  # the cloud audits the step once the edge's apply result arrives
            events = await timeline(decision.trace_id, edge_db=running.settings.db_path, cloud_db=hybrid.db)
            whats = [(e.side, e.what) for e in events]
            if ("cloud", "plan.step.succeeded") in whats:
                break
            await asyncio.sleep(0.05)
        assert ("edge", "decision planned") in whats and ("cloud", "plan.create") in whats, whats
        assert ("cloud", "plan.step.succeeded") in whats, whats
        await running.say("turn off the kitchen lights")
        mixed = await running.say("turn on the desk lamp and " + CLOUD_ONLY)  # one part local, one not
        assert (mixed.outcome, mixed.source) == ("planned", "cloud"), mixed.reply
        assert mixed.actions == []  # nothing done locally: the whole request is the planner's
        await wait_for(lambda: running.home.state("kitchen_light")["state"] == "ON", what="the planned light on")


async def test_cloud_stopped_then_black_holed_local_commands_still_work(hybrid: Hybrid) -> None:
    running = hybrid.running
    breaker = running.edge.cloud.breaker if running.edge.cloud else None
    assert breaker is not None
    # Stopped: nothing listens on the port.
    decision = await running.say(CLOUD_ONLY)
    assert (decision.outcome, decision.source) == ("cloud_unavailable", "degraded"), decision
    assert "local commands still work" in decision.reply
    local = await running.say("turn on the kitchen lights")
    assert local.outcome == "done" and running.home.state("kitchen_light")["state"] == "ON"
    # Black-holed: connections are accepted and never answered; each call times out until the breaker opens.
    async with black_hole(hybrid.port):
        for _ in range(2):
            decision = await running.say(CLOUD_ONLY)
            assert decision.outcome == "cloud_unavailable", decision
        assert breaker.state is BreakerState.OPEN
        fast = await running.say(CLOUD_ONLY)
        assert fast.outcome == "cloud_unavailable"
        assert fast.stages_ms["cloud"] < 50, fast.stages_ms  # the breaker answers without calling the cloud
        local = await running.say("turn off the kitchen lights")
        assert local.outcome == "done" and running.home.state("kitchen_light")["state"] == "OFF"
    value = running.edge.metrics.registry.get_sample_value("autoglm_edge_cloud_breaker_state", {"state": "open"})
    assert value == 1.0


async def test_queue_policy_runs_a_request_made_offline_once_the_cloud_is_back(broker: BrokerInfo,
                                                                              tmp_path: Path) -> None:
    breaker = {"minimum_calls": 1, "window_size": 2, "open_s": 0.5}
    async with start_hybrid(broker, tmp_path, breaker, offline_policy="queue", queue_expiry_s=120) as hybrid:
        running = hybrid.running
        async with serve_cloud(hybrid.broker, hybrid.db, hybrid.port):  # the cloud learns the home, then goes
            await cloud_knows_the_light(hybrid.db)
        await running.say("turn off the kitchen lights")
        queued = await running.say(CLOUD_ONLY)  # the cloud is down
        assert (queued.outcome, queued.source) == ("queued", "degraded"), queued.reply
        assert running.home.state("kitchen_light")["state"] == "OFF"
        async with serve_cloud(hybrid.broker, hybrid.db, hybrid.port):
            await wait_for(lambda: running.home.state("kitchen_light")["state"] == "ON", timeout=30,
                           what="the queued request run by the cloud")
        later = await running.edge.store.decisions(queued.trace_id)
        assert [d.outcome.value for d in later][:1] == ["planned"], later  # newest first: the drained run


async def test_a_cloud_plan_is_replayed_at_the_edge_while_the_cloud_is_away(hybrid: Hybrid) -> None:
    running = hybrid.running
    async with serve_cloud(hybrid.broker, hybrid.db, hybrid.port):
        await cloud_knows_the_light(hybrid.db)
        first = await running.say(CLOUD_ONLY)
        assert first.outcome == "planned", first.reply
        await wait_for(lambda: running.home.state("kitchen_light")["state"] == "ON", what="the planned light on")
    await running.say("turn off the kitchen lights")
    offline = await running.say(CLOUD_ONLY)  # the cloud is gone: the edge runs the plan it made before
    assert (offline.outcome, offline.source) == ("done", "cache"), offline.reply
    assert [a.device_id for a in offline.actions] == ["autoglm_sim_kitchen_light"]
    assert running.home.state("kitchen_light")["state"] == "ON"  # confirmed by the device itself
    unknown = await running.say("plan a surprise party for my sister")  # never planned: no replay
    assert unknown.outcome == "cloud_unavailable", unknown.reply
