"""The cloud API rig shared by the api.* scenarios: a seeded fleet on two sites, tokens, and the real app in-process.

`api_under_test` runs `cloud.app.create_app` on a real SQLite file with a real Mosquitto behind its MQTT link and (if
asked) the shipped tiny planner, with an httpx client on an ASGI transport. It is the third rig beside rig.py and
rig_bridge.py (HTTP, not MQTT: it shares no part with them).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from bench.reliability.api_matrix import (
    DEVICE_A,
    EDGE_A,
    EDGE_B,
    SITE_A,
    SITE_B,
    Endpoint,
    seed_edge_model,
)
from bench.reliability.procs import Mosquitto
from cloud.app import create_app
from cloud.auth import Authenticator, issue_token, parse_token
from cloud.bus import BusSettings
from cloud.fleet import Device
from cloud.mqtt_link import open_mqtt_link
from cloud.planner.backend import open_planner
from cloud.settings import CloudSettings, PlannerSettings
from cloud.sqlite_store import SqliteStore
from cloud.store import PlanRecord
from shared.envelope import new_id, utcnow
from shared.plan import Plan, PlanStatus, PlanStep

DEVICES = (
    Device(DEVICE_A, EDGE_A, SITE_A, "light", "Kitchen Light", "Kitchen"),
    Device("lock.front_door", EDGE_A, SITE_A, "lock", "Front Door", "Hall"),
    Device("light.b_bedroom", EDGE_B, SITE_B, "light", "Bedroom Light", "Bedroom"),
)
async def seed(store: SqliteStore) -> None:
    """Two sites, an edge and devices on each."""
    await store.upsert_edge(EDGE_A, site=SITE_A, name="Home A")
    await store.upsert_edge(EDGE_B, site=SITE_B, name="Home B")
    for device in DEVICES:
        await store.upsert_device(device)


async def add_plan(store: SqliteStore, edge_id: str = EDGE_A, site: str = SITE_A) -> str:
    """A stored, proposed plan (turn the kitchen light off) that can be read, run and cancelled."""
    now = utcnow()
    plan = Plan(steps=[PlanStep(id="s1", tool="light.turn_off", args={"device_id": DEVICE_A})])
    record = PlanRecord(plan_id=new_id(), edge_id=edge_id, site=site, text="lights off", language="en", plan=plan,
                        status=PlanStatus.PROPOSED, trace_id=new_id(), created_by="seed", created_ts=now,
                        updated_ts=now)
    await store.add_plan(record)
    return record.plan_id


async def add_token(store: SqliteStore, role: str, *, sites: set[str] | None = None, edge_id: str | None = None,
                    ttl: timedelta | None = None, revoked: bool = False) -> str:
    """A stored token's bearer secret."""
    issued = issue_token(role, sites=frozenset(sites) if sites is not None else None, edge_id=edge_id, ttl=ttl)
    await store.add_token(issued.record)
    if revoked:
        await store.revoke_token(issued.record.token_id, utcnow())
    return issued.secret


def bearer(secret: str) -> dict[str, str]:
    """Authorization header of a token secret."""
    return {"Authorization": f"Bearer {secret}"}


@dataclass
class ApiUnderTest:
    """The real app on a real SQLite file, its store, and an in-process client."""

    app: FastAPI
    store: SqliteStore
    client: httpx.AsyncClient

    async def ids(self) -> dict[str, str]:
        """Fresh path ids: a new proposed plan and a new victim token, so runs, cancels and revokes can repeat."""
        victim = parse_token(await add_token(self.store, "viewer"))[0]
        return {"edge_id": EDGE_A, "device_id": DEVICE_A, "plan_id": await add_plan(self.store), "token_id": victim}

    async def call(self, endpoint: Endpoint, headers: dict[str, str]) -> int:
        """Status of one request with fresh ids."""
        response = await self.client.request(endpoint.method, endpoint.url(await self.ids()), json=endpoint.body,
                                             headers=headers)
        return response.status_code


@contextlib.asynccontextmanager
async def api_under_test(workdir: Path, *, planner: bool = True,
                         authenticator: type[Authenticator] | None = None) -> AsyncIterator[ApiUnderTest]:
    """The app with a real Mosquitto behind its MQTT link and (if `planner`) the shipped tiny planner, lazily."""
    with Mosquitto(workdir / "broker", persistence=False) as broker:  # makes `workdir` too
        bus = BusSettings(port=broker.port, client_id=f"cloud-{new_id()[:8]}")
        settings = CloudSettings(db_path=workdir / "cloud.db", mqtt=bus, command_timeout_s=2.0,
                                 planner=PlannerSettings(lazy_load=True, device="cpu"))
        store = SqliteStore(settings.db_path)
        app = create_app(settings, store=store,
                         planner_factory=(lambda: open_planner(settings.planner)) if planner else None,
                         link_factory=lambda s: open_mqtt_link(bus, s, step_timeout_s=2.0))
        if authenticator is not None:
            app.state.services.auth = authenticator(store)
        async with app.router.lifespan_context(app):
            await seed(store)
            await add_plan(store, EDGE_B, SITE_B)
            seed_edge_model(settings.edge_models_root)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://cloud.test", timeout=60) as client:
                yield ApiUnderTest(app, store, client)
