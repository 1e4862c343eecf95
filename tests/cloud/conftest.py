"""Cloud API fixtures: the real app on a real SQLite file, httpx in-process, a seeded two-site fleet, fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cloud.app import create_app
from cloud.auth import issue_token
from cloud.fleet import Caller, Device
from cloud.settings import CloudSettings, PlannerSettings
from cloud.sqlite_store import SqliteStore
from shared.envelope import utcnow
from shared.plan import Plan, PlanRequest, PlanStatus, PlanStep

SITE_A, SITE_B = "site-a", "site-b"
EDGE_A, EDGE_B = "edge-a", "edge-b"
DEVICES = (
    Device("light.kitchen", EDGE_A, SITE_A, "light", "Kitchen Light", "Kitchen"),
    Device("lock.front_door", EDGE_A, SITE_A, "lock", "Front Door", "Hall"),
    Device("light.b_bedroom", EDGE_B, SITE_B, "light", "Bedroom Light", "Bedroom"),
)


class FakePlanner:
    """Deterministic plans: 'unlock' -> unlock every lock; 'fail' -> a bad plan; else turn every light off."""

    model_name = "fake-planner"

    def __init__(self) -> None:
        self.calls: list[tuple[PlanRequest, list[Device], str]] = []
        self.state = "lazy"
        self.started = False

    def status(self) -> str:
        return self.state

    async def start(self) -> None:
        self.started = True

    async def propose(self, request: PlanRequest, devices: list[Device], *, trace_id: str) -> Plan:
        self.calls.append((request, list(devices), trace_id))
        if "fail" in request.text:
            return Plan(steps=[PlanStep(id="s1", tool="light.turn_off", args={"device_id": "no.such_device"})])
        domain, service = ("lock", "unlock") if "unlock" in request.text else ("light", "turn_off")
        targets = [d for d in devices if d.domain == domain]
        return Plan(steps=[PlanStep(id=f"s{i + 1}", tool=f"{domain}.{service}", args={"device_id": d.device_id})
                           for i, d in enumerate(targets)])


@dataclass
class FakeRunResult:
    """What the fake executor answers."""

    status: PlanStatus
    steps: list[dict[str, Any]]


@dataclass
class FakeExecutor:
    """Succeeds at once, or (block=True) waits for the cancel event."""

    block: bool = False
    runs: list[dict[str, Any]] = field(default_factory=list)

    async def run(self, plan: Plan, devices: Mapping[str, Device], *, caller: Caller, trace_id: str,
                  confirmed: bool, cancel: asyncio.Event) -> FakeRunResult:
        self.runs.append({"plan": plan, "devices": sorted(devices), "caller": caller, "confirmed": confirmed,
                          "trace_id": trace_id})
        if self.block:
            await cancel.wait()
            return FakeRunResult(PlanStatus.CANCELLED, [{"id": s.id, "status": "cancelled"} for s in plan.steps])
        return FakeRunResult(PlanStatus.SUCCEEDED, [{"id": s.id, "status": "succeeded"} for s in plan.steps])


@dataclass
class Cloud:
    """A running app with its client, store and helpers."""

    app: FastAPI
    client: httpx.AsyncClient
    store: SqliteStore
    planner: FakePlanner
    executor: FakeExecutor
    token: Callable[..., Awaitable[str]]

    async def as_(self, role: str, **kwargs: Any) -> dict[str, str]:
        """Authorization headers of a fresh token."""
        return {"Authorization": f"Bearer {await self.token(role, **kwargs)}"}


def cloud_settings(tmp_path: Path, **overrides: Any) -> CloudSettings:
    """Settings on a database in `tmp_path`, planner left at its defaults."""
    return CloudSettings(db_path=tmp_path / "cloud.db", planner=PlannerSettings(lazy_load=True), **overrides)


async def seed(store: SqliteStore) -> None:
    """Two edges on two sites, three devices."""
    await store.upsert_edge(EDGE_A, site=SITE_A, name="Home A")
    await store.upsert_edge(EDGE_B, site=SITE_B, name="Home B")
    for device in DEVICES:
        await store.upsert_device(device)


def token_factory(store: SqliteStore) -> Callable[..., Awaitable[str]]:
    """`await token(role, sites=..., edge_id=..., ttl=..., revoked=...)` -> a bearer secret."""

    async def make(role: str, *, sites: set[str] | None = None, edge_id: str | None = None,
                   ttl: timedelta | None = None, revoked: bool = False) -> str:
        issued = issue_token(role, sites=frozenset(sites) if sites is not None else None, edge_id=edge_id, ttl=ttl)
        await store.add_token(issued.record)
        if revoked:
            await store.revoke_token(issued.record.token_id, utcnow())
        return issued.secret

    return make


@pytest.fixture
async def cloud(tmp_path: Path) -> AsyncIterator[Cloud]:
    """The real app (lifespan run) on a real SQLite file, seeded, with a fake planner and executor."""
    store = SqliteStore(tmp_path / "cloud.db")
    planner, executor = FakePlanner(), FakeExecutor()
    app = create_app(cloud_settings(tmp_path), store=store, planner=planner, executor_factory=lambda: executor)
    async with app.router.lifespan_context(app):
        await seed(store)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cloud.test") as client:
            yield Cloud(app, client, store, planner, executor, token_factory(store))
