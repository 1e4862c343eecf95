"""RBAC matrix: every role x every endpoint gives the intended status; bad, expired, revoked and other-site
tokens are refused. The matrix (bench/reliability/api_matrix.py, shared with the reliability scenario) must list
every route the app serves, so a new endpoint cannot skip it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute

from bench.reliability.api_matrix import (
    MATRIX,
    ON_SITE_A_RESOURCE,
    PROTECTED,
    ROLES,
    Endpoint,
    other_site_expected,
    seed_edge_model,
)
from cloud.api import ROUTERS
from cloud.auth import Principal, Role
from shared.envelope import Envelope
from shared.plan import PlanRequest
from tests.cloud.conftest import EDGE_A, SITE_A, SITE_B, Cloud


class Sender:
    async def send_command(self, edge_id: str, text: str, *, language: str | None, trace_id: str,
                           command_id: str) -> dict[str, Any] | None:
        return None


class Orders:
    async def publish_order(self, edge_id: str, envelope: Envelope) -> None:
        return None


async def fresh_ids(cloud: Cloud) -> dict[str, str]:
    """A new proposed plan and a new victim token, so runs, cancels and revokes can repeat; an edge model on offer."""
    services = cloud.app.state.services
    seed_edge_model(services.settings.edge_models_root)
    services.model_orders = services.model_orders or Orders()
    plans = cloud.app.state.services.plans
    plan = await plans.propose(PlanRequest(text="lights off", edge_id=EDGE_A), Principal("seed", Role.ADMIN),
                               trace_id="seed")
    victim = (await cloud.as_("viewer"))["Authorization"].split()[1].split("_")[1]
    return {"edge_id": EDGE_A, "device_id": "light.kitchen", "plan_id": plan.plan_id, "token_id": victim}


async def call(cloud: Cloud, endpoint: Endpoint, headers: dict[str, str]) -> int:
    ids = await fresh_ids(cloud)
    response = await cloud.client.request(endpoint.method, endpoint.url(ids), json=endpoint.body, headers=headers)
    return response.status_code


def test_matrix_lists_every_route_and_each_declares_a_permission() -> None:
    routes = {(m, r.path): r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)
              for m in r.methods}
    assert set(routes) == {(e.method, e.path) for e in MATRIX}
    for (method, path), route in routes.items():
        declared = [d.call for d in route.dependant.dependencies if hasattr(d.call, "permission")]
        assert len(declared) == (1 if path.startswith("/v1/") else 0), (method, path)


@pytest.mark.parametrize("endpoint", MATRIX, ids=lambda e: f"{e.method} {e.path}")
async def test_every_role_gets_the_intended_status(cloud: Cloud, endpoint: Endpoint) -> None:
    cloud.app.state.services.commander = Sender()
    got = {}
    for role in ROLES:
        headers = await cloud.as_(role, edge_id=EDGE_A if role == "edge" else None)
        got[role] = await call(cloud, endpoint, headers)
    assert got == endpoint.expected


@pytest.mark.parametrize("endpoint", PROTECTED, ids=lambda e: f"{e.method} {e.path}")
async def test_missing_bad_expired_and_revoked_tokens_are_401(cloud: Cloud, endpoint: Endpoint) -> None:
    admin = await cloud.as_("admin")
    good_secret = admin["Authorization"].split()[1]
    cases = {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {good_secret}"},
        "malformed": {"Authorization": "Bearer nonsense"},
        "wrong secret": {"Authorization": f"Bearer {good_secret[:-4]}abcd"},
        "expired": await cloud.as_("admin", ttl=timedelta(seconds=-1)),
        "revoked": await cloud.as_("admin", revoked=True),
    }
    got = {name: await call(cloud, endpoint, headers) for name, headers in cases.items()}
    assert got == dict.fromkeys(cases, 401)
    response = await cloud.client.request(endpoint.method, endpoint.url(await fresh_ids(cloud)), json=endpoint.body,
                                          headers=cases["revoked"])
    assert response.json()["error"]["code"] == "token_revoked"
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("endpoint", ON_SITE_A_RESOURCE, ids=lambda e: f"{e.method} {e.path}")
async def test_other_site_tokens_cannot_reach_site_a(cloud: Cloud, endpoint: Endpoint) -> None:
    cloud.app.state.services.commander = Sender()
    other_admin = await cloud.as_("admin", sites={SITE_B})
    other_edge = await cloud.as_("edge", edge_id="edge-b")
    assert await call(cloud, endpoint, other_admin) == other_site_expected(endpoint, "admin")
    assert await call(cloud, endpoint, other_edge) == other_site_expected(endpoint, "edge")


async def test_other_site_tokens_see_nothing_of_site_a_in_lists(cloud: Cloud) -> None:
    await fresh_ids(cloud)
    await cloud.app.state.services.plans.propose(PlanRequest(text="lights off", edge_id="edge-b"),
                                                 Principal("seed", Role.ADMIN), trace_id="seed")
    other = await cloud.as_("admin", sites={SITE_B})
    for path in ("/v1/edges", "/v1/devices", "/v1/plans"):
        listed = (await cloud.client.get(path, headers=other)).json()
        assert listed and all(item.get("site") == SITE_B for item in listed), path
    assert (await cloud.client.post("/v1/edges", json={"edge_id": "x", "site": SITE_A}, headers=other)).status_code \
        == 403
