"""The audit log over the API: filters, newest first, site scope, every write recorded with its trace id."""

from __future__ import annotations

from tests.cloud.conftest import EDGE_A, SITE_A, SITE_B, Cloud


async def test_writes_are_audited_and_filterable(cloud: Cloud) -> None:
    op = await cloud.as_("operator")
    await cloud.client.post("/v1/edges", json={"edge_id": "edge-c", "site": SITE_B}, headers={**op, "X-Trace-ID": "t1"})
    await cloud.client.patch("/v1/devices/light.kitchen/twin/desired", json={"values": {"state": "ON"}},
                             headers={**op, "X-Trace-ID": "t2"})
    auditor = await cloud.as_("auditor")
    entries = (await cloud.client.get("/v1/audit", headers=auditor)).json()
    assert [(e["action"], e["trace_id"]) for e in entries] == [("twin.desired", "t2"), ("edge.register", "t1")]
    assert entries[0]["actor"].startswith("token:") and entries[0]["site"] == SITE_A
    by_action = (await cloud.client.get("/v1/audit", params={"action": "edge.register"}, headers=auditor)).json()
    assert [e["target"] for e in by_action] == ["edge:edge-c"]
    assert len((await cloud.client.get("/v1/audit", params={"limit": 1}, headers=auditor)).json()) == 1
    assert (await cloud.client.get("/v1/audit", params={"limit": 0}, headers=auditor)).status_code == 422
    scoped = await cloud.as_("auditor", sites={SITE_A})
    assert [e["trace_id"] for e in (await cloud.client.get("/v1/audit", headers=scoped)).json()] == ["t2"]


async def test_plan_lifecycle_shares_one_trace(cloud: Cloud) -> None:
    op = await cloud.as_("operator")
    plan = (await cloud.client.post("/v1/plan", json={"text": "lights off", "edge_id": EDGE_A},
                                    headers={**op, "X-Trace-ID": "life"})).json()
    await cloud.client.post(f"/v1/plans/{plan['plan_id']}/run", headers=op)
    await cloud.app.state.services.plans.wait_idle()
    admin = await cloud.as_("admin")
    entries = (await cloud.client.get("/v1/audit", params={"trace_id": "life"}, headers=admin)).json()
    assert [e["action"] for e in entries] == ["plan.succeeded", "plan.run", "plan.create"]
