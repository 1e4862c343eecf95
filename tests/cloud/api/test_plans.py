"""Plans over the API: propose (only visible devices, real validation), run with confirmation, cancel, errors."""

from __future__ import annotations

import asyncio
from typing import Any

from cloud.fleet import Device
from cloud.planner.executor import Executor
from cloud.store import AuditQuery
from shared.errors import PlannerOverloadedError, PlannerTimeoutError
from shared.plan import Plan, PlanRequest
from tests.cloud.conftest import EDGE_A, EDGE_B, SITE_A, Cloud


async def propose(cloud: Cloud, text: str, headers: dict[str, str], edge_id: str = EDGE_A) -> Any:
    return await cloud.client.post("/v1/plan", json={"text": text, "edge_id": edge_id, "language": "en"},
                                   headers=headers)


async def wait_final(cloud: Cloud, plan_id: str, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(200):
        body: dict[str, Any] = (await cloud.client.get(f"/v1/plans/{plan_id}", headers=headers)).json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"plan {plan_id} never finished")


async def test_propose_returns_plan_over_visible_devices_only(cloud: Cloud) -> None:
    op = await cloud.as_("operator", sites={SITE_A})
    response = await propose(cloud, "turn everything off", {**op, "X-Trace-ID": "plan-trace"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["plan"]["steps"] == [{"id": "s1", "tool": "light.turn_off", "args": {"device_id": "light.kitchen"},
                                      "after": []}]
    assert (body["status"], body["trace_id"], body["model"], body["sensitive_steps"]) == (
        "proposed", "plan-trace", "fake-planner", [])
    request, devices, trace_id = cloud.planner.calls[-1]
    assert request == PlanRequest(text="turn everything off", edge_id=EDGE_A)
    assert sorted(d.device_id for d in devices) == ["light.kitchen", "lock.front_door"] and trace_id == "plan-trace"
    stored = (await cloud.client.get(f"/v1/plans/{body['plan_id']}", headers=op)).json()
    assert stored["plan"] == body["plan"] and stored["text"] == "turn everything off"
    assert [e.action for e in await cloud.store.list_audit(AuditQuery(trace_id="plan-trace"))] == ["plan.create"]


async def test_edge_credential_plans_only_for_its_own_edge(cloud: Cloud) -> None:
    edge = await cloud.as_("edge", edge_id=EDGE_A)
    assert (await propose(cloud, "lights off", edge)).status_code == 200
    assert (await propose(cloud, "lights off", edge, edge_id=EDGE_B)).status_code == 404
    assert (await propose(cloud, "lights off", await cloud.as_("operator", sites={SITE_A}),
                          edge_id=EDGE_B)).status_code == 404
    assert (await propose(cloud, "lights off", await cloud.as_("admin"), edge_id="nope")).status_code == 404


async def test_invalid_plan_is_422_and_not_stored(cloud: Cloud) -> None:
    op = await cloud.as_("operator")
    response = await propose(cloud, "fail please", op)
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_plan"
    assert "no.such_device" in response.json()["error"]["message"]
    assert await cloud.store.list_plans() == []


async def test_bad_plan_bodies_are_422(cloud: Cloud) -> None:
    op = await cloud.as_("operator")
    for body in ({"text": "", "edge_id": EDGE_A}, {"edge_id": EDGE_A}, {"text": "x", "edge_id": EDGE_A, "language":
                 "English"}, {"text": "x", "edge_id": EDGE_A, "extra": 1}):
        response = await cloud.client.post("/v1/plan", json=body, headers=op)
        assert response.status_code == 422 and response.json()["error"]["code"] == "bad_request", body
    garbage = await cloud.client.post("/v1/plan", content=b"{not json", headers={**op, "content-type":
                                                                                 "application/json"})
    assert garbage.status_code == 422


async def test_sensitive_plan_needs_confirmation_then_runs(cloud: Cloud) -> None:
    op = await cloud.as_("operator")
    body = (await propose(cloud, "unlock the front door", op)).json()
    assert body["status"] == "needs_confirmation" and body["sensitive_steps"] == ["s1"]
    refused = await cloud.client.post(f"/v1/plans/{body['plan_id']}/run", json={}, headers=op)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "confirmation_required"
    assert cloud.executor.runs == []
    started = await cloud.client.post(f"/v1/plans/{body['plan_id']}/run", json={"confirm": True}, headers=op)
    assert started.status_code == 202 and started.json()["status"] == "running"
    final = await wait_final(cloud, body["plan_id"], op)
    assert final["status"] == "succeeded" and final["result"] == [{"id": "s1", "status": "succeeded"}]
    run = cloud.executor.runs[0]
    assert run["confirmed"] is True and run["trace_id"] == body["trace_id"]
    assert run["devices"] == ["light.kitchen", "lock.front_door"]
    again = await cloud.client.post(f"/v1/plans/{body['plan_id']}/run", json={"confirm": True}, headers=op)
    assert again.status_code == 409 and again.json()["error"]["code"] == "plan_state_conflict"


async def test_cancel_running_and_proposed_plans(cloud: Cloud) -> None:
    op = await cloud.as_("operator")
    cloud.executor.block = True
    running = (await propose(cloud, "lights off", op)).json()
    await cloud.client.post(f"/v1/plans/{running['plan_id']}/run", headers=op)
    cancelled = await cloud.client.post(f"/v1/plans/{running['plan_id']}/cancel", headers=op)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    proposed = (await propose(cloud, "lights off", op)).json()
    first = await cloud.client.post(f"/v1/plans/{proposed['plan_id']}/cancel", headers=op)
    assert first.json()["status"] == "cancelled"
    assert (await cloud.client.post(f"/v1/plans/{proposed['plan_id']}/cancel", headers=op)).status_code == 200
    run_cancelled = await cloud.client.post(f"/v1/plans/{proposed['plan_id']}/run", headers=op)
    assert run_cancelled.status_code == 409
    assert (await cloud.client.post("/v1/plans/nope/cancel", headers=op)).status_code == 404


async def test_planner_errors_map_to_http(cloud: Cloud) -> None:
    op = await cloud.as_("operator")
    for error, status, code in ((PlannerOverloadedError("queue full"), 429, "planner_overloaded"),
                                (PlannerTimeoutError("too slow"), 504, "planner_timeout")):
        async def failing(request: PlanRequest, devices: list[Device], *, trace_id: str, e: Exception = error) -> Plan:
            raise e
        cloud.planner.propose = failing  # type: ignore[method-assign]
        response = await propose(cloud, "lights off", op)
        assert response.status_code == status and response.json()["error"]["code"] == code
    cloud.app.state.services.plans.planner = None
    response = await propose(cloud, "lights off", op)
    assert response.status_code == 503 and response.json()["error"]["code"] == "planner_unavailable"


async def test_list_plans_scoped_by_site(cloud: Cloud) -> None:
    admin = await cloud.as_("admin")
    await propose(cloud, "lights off", admin)
    await propose(cloud, "lights off", admin, edge_id=EDGE_B)
    assert len((await cloud.client.get("/v1/plans", headers=admin)).json()) == 2
    scoped = (await cloud.client.get("/v1/plans", headers=await cloud.as_("viewer", sites={SITE_A}))).json()
    assert [p["edge_id"] for p in scoped] == [EDGE_A]
    edge = (await cloud.client.get("/v1/plans", headers=await cloud.as_("edge", edge_id=EDGE_B))).json()
    assert [p["edge_id"] for p in edge] == [EDGE_B]


class Commander:
    def __init__(self) -> None:
        self.acts: list[tuple[str, str]] = []

    async def act(self, device: Device, service: str, args: dict[str, Any], *, trace_id: str,
                  timeout_s: float) -> dict[str, Any]:
        self.acts.append((device.device_id, service))
        return {"state": "OFF"}

    async def state(self, device: Device) -> dict[str, Any]:
        return dict(device.state)


class Notifier:
    async def notify(self, message: str, *, trace_id: str) -> None:
        return None


async def test_real_executor_runs_steps_and_audits_them(cloud: Cloud) -> None:
    commander = Commander()
    services = cloud.app.state.services
    services.plans.executor_factory = lambda: Executor(commander, services.store, Notifier())
    op = await cloud.as_("operator")
    body = (await propose(cloud, "lights off", op)).json()
    await cloud.client.post(f"/v1/plans/{body['plan_id']}/run", headers=op)
    final = await wait_final(cloud, body["plan_id"], op)
    assert final["status"] == "succeeded", final
    assert commander.acts == [("light.kitchen", "turn_off")]
    actions = [e.action for e in await cloud.store.list_audit(AuditQuery(trace_id=body["trace_id"]))]
    assert actions[-1] == "plan.create" and "plan.succeeded" in actions and len(actions) >= 4
