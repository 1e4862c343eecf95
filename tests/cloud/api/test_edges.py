"""Edges: registration with site checks, online status from heartbeats, visibility by site and edge credential."""

from __future__ import annotations

from datetime import timedelta

from cloud.store import AuditQuery
from shared.envelope import utcnow
from tests.cloud.conftest import EDGE_A, EDGE_B, SITE_A, SITE_B, Cloud


async def test_register_list_and_get(cloud: Cloud) -> None:
    op = await cloud.as_("operator")
    created = await cloud.client.post("/v1/edges", json={"edge_id": "edge-c", "site": "site-c"}, headers=op)
    assert created.status_code == 201
    assert created.json()["online"] is False and created.json()["last_seen"] is None
    listed = (await cloud.client.get("/v1/edges", headers=op)).json()
    assert [e["edge_id"] for e in listed] == [EDGE_A, EDGE_B, "edge-c"]
    one = await cloud.client.get(f"/v1/edges/{EDGE_B}", headers=op)
    assert one.json()["site"] == SITE_B
    assert (await cloud.client.get("/v1/edges/nope", headers=op)).status_code == 404
    audit = [e.action for e in await cloud.store.list_audit(AuditQuery())]
    assert "edge.register" in audit


async def test_bad_registration_bodies_are_422(cloud: Cloud) -> None:
    op = await cloud.as_("operator")
    for body in ({"edge_id": "a/b", "site": "s"}, {"edge_id": "e"}, {"edge_id": "e", "site": "s", "x": 1}):
        response = await cloud.client.post("/v1/edges", json=body, headers=op)
        assert response.status_code == 422 and response.json()["error"]["code"] == "bad_request"


async def test_site_scoped_operator(cloud: Cloud) -> None:
    op = await cloud.as_("operator", sites={SITE_A})
    assert [e["edge_id"] for e in (await cloud.client.get("/v1/edges", headers=op)).json()] == [EDGE_A]
    assert (await cloud.client.get(f"/v1/edges/{EDGE_B}", headers=op)).status_code == 404
    other_site = await cloud.client.post("/v1/edges", json={"edge_id": "x", "site": SITE_B}, headers=op)
    assert other_site.status_code == 403
    hijack = await cloud.client.post("/v1/edges", json={"edge_id": EDGE_B, "site": SITE_A}, headers=op)
    assert hijack.status_code == 403 and (await cloud.store.get_edge(EDGE_B)).site == SITE_B  # type: ignore[union-attr]


async def test_heartbeat_marks_online_and_silence_marks_offline(cloud: Cloud) -> None:
    edge = await cloud.as_("edge", edge_id=EDGE_A)
    beat = await cloud.client.post(f"/v1/edges/{EDGE_A}/heartbeat", headers=edge)
    assert beat.status_code == 200 and beat.json()["online"] is True
    assert (await cloud.client.post(f"/v1/edges/{EDGE_B}/heartbeat", headers=edge)).status_code == 404
    viewer = await cloud.as_("viewer")
    stale = utcnow() - timedelta(seconds=cloud.app.state.services.settings.edge_offline_after_s + 5)
    await cloud.store.set_edge_status(EDGE_B, True, stale)
    edges = {e["edge_id"]: e for e in (await cloud.client.get("/v1/edges", headers=viewer)).json()}
    assert edges[EDGE_A]["online"] is True
    assert edges[EDGE_B]["online"] is False and edges[EDGE_B]["last_seen"] is not None
    # The edge credential sees only its own edge.
    assert [e["edge_id"] for e in (await cloud.client.get("/v1/edges", headers=edge)).json()] == [EDGE_A]
