"""End to end through the cloud: simulated home + edge daemon + the cloud app with its MQTT link on one broker.

A plan made through `POST /v1/plan` and run through `POST /v1/plans/{id}/run` reaches the device through the
edge and is confirmed by the device's own state; a desired twin change made through the API does the same.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.app import create_app
from cloud.auth import issue_token
from cloud.bus import BusSettings
from cloud.fleet import Device
from cloud.mqtt_link import open_mqtt_link
from cloud.settings import CloudSettings, PlannerSettings
from cloud.sqlite_store import SqliteStore
from cloud.store import AuditQuery
from shared.plan import Plan, PlanRequest, PlanStep
from tests.integration.conftest import EDGE_ID, Running, wait_for

pytestmark = pytest.mark.integration

LIGHT = "autoglm_sim_kitchen_light"


class AreaPlanner:
    """Turns on (or off) the lights of the area named in the request, from the devices it is given."""

    model_name = "area-planner"

    async def propose(self, request: PlanRequest, devices: list[Device], *, trace_id: str) -> Plan:
        service = "turn_off" if " off" in request.text else "turn_on"
        lights = [d for d in devices if d.domain == "light" and d.area and d.area.lower() in request.text.lower()]
        return Plan(steps=[PlanStep(id=f"s{i + 1}", tool=f"light.{service}", args={"device_id": d.device_id})
                           for i, d in enumerate(lights)])


@dataclass
class Cloud:
    """The running cloud app and an operator's headers."""

    client: httpx.AsyncClient
    store: SqliteStore
    headers: dict[str, str]


@pytest.fixture
async def cloud(running: Running, tmp_path: Path) -> AsyncIterator[Cloud]:
    db = tmp_path / "cloud.db"
    setup = SqliteStore(db)
    await setup.open()
    await setup.upsert_edge(EDGE_ID, site="home", name="test home")
    issued = issue_token("operator")
    await setup.add_token(issued.record)
    await setup.close()
    bus = BusSettings(host=running.broker.host, port=running.broker.port,
                      client_id=f"cloud-{random.getrandbits(32)}", reconnect_min_s=0.05)
    settings = CloudSettings(db_path=db, planner=PlannerSettings(lazy_load=True), mqtt=bus)
    store = SqliteStore(db)
    app = create_app(settings, store=store, planner=AreaPlanner(),
                     link_factory=lambda s: open_mqtt_link(bus, s, step_timeout_s=10.0))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cloud.test") as client:
            yield Cloud(client, store, {"Authorization": f"Bearer {issued.secret}"})


async def wait_json(cloud: Cloud, url: str, ok: Any, what: str, timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await cloud.client.get(url, headers=cloud.headers)
        body = response.json()
        if response.status_code == 200 and ok(body):
            return body
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}: last {body}")
        await asyncio.sleep(0.05)


async def test_a_plan_made_and_run_in_the_cloud_switches_the_device(running: Running, cloud: Cloud) -> None:
    await wait_json(cloud, f"/v1/devices/{LIGHT}", lambda b: b.get("device_id") == LIGHT, "the light in the cloud")
    assert running.home.state("kitchen_light")["state"] == "OFF"

    made = await cloud.client.post("/v1/plan", headers=cloud.headers,
                                   json={"text": "turn on the kitchen lights", "edge_id": EDGE_ID})
    assert made.status_code == 200, made.text
    body = made.json()
    assert [s["tool"] for s in body["plan"]["steps"]] == ["light.turn_on"]
    assert body["plan"]["steps"][0]["args"] == {"device_id": LIGHT}

    run = await cloud.client.post(f"/v1/plans/{body['plan_id']}/run", headers=cloud.headers, json={"confirm": False})
    assert run.status_code in (200, 202), run.text
    final = await wait_json(cloud, f"/v1/plans/{body['plan_id']}", lambda b: b["status"] in (
        "succeeded", "failed", "cancelled"), "the plan to finish")
    assert final["status"] == "succeeded", final
    assert running.home.state("kitchen_light")["state"] == "ON"  # the device itself, not the twin

    steps = await cloud.store.list_audit(AuditQuery(trace_id=body["trace_id"]))
    assert "plan.step.succeeded" in [e.action for e in steps]


async def test_a_desired_change_through_the_api_reaches_the_device(running: Running, cloud: Cloud) -> None:
    await wait_json(cloud, f"/v1/devices/{LIGHT}", lambda b: b.get("device_id") == LIGHT, "the light in the cloud")
    changed = await cloud.client.patch(f"/v1/devices/{LIGHT}/twin/desired", headers=cloud.headers,
                                       json={"values": {"state": "ON"}})
    assert changed.status_code == 200, changed.text
    await wait_for(lambda: running.home.state("kitchen_light")["state"] == "ON", what="the light on", timeout=10)
