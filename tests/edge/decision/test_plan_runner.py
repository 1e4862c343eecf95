"""The edge's plan runner: references, conditions, waits, notifications and failures, without a device."""

from __future__ import annotations

from typing import Any

from edge.decision.plan_runner import LocalPlanRunner
from edge.devices.registry import Registry
from shared.plan import Plan, PlanStep


class Twins:
    def __init__(self, values: dict[str, dict[str, Any]]) -> None:
        self._values = values

    def values(self, device_id: str) -> dict[str, Any]:
        return dict(self._values.get(device_id, {}))


def runner(notes: list[str]) -> LocalPlanRunner:
    async def notify(message: str, trace_id: str) -> None:
        notes.append(message)

    return LocalPlanRunner(Registry(), Twins({}), executor=None, notify=notify)  # type: ignore[arg-type]


async def test_a_false_condition_skips_what_depends_on_it_and_notify_gets_references() -> None:
    notes: list[str] = []
    plan = Plan(steps=[
        PlanStep(id="s1", tool="condition", args={"left": 27, "op": "gt", "right": 26}),
        PlanStep(id="s2", tool="notify", args={"message": "hot: $s1.value"}, after=["s1"]),
        PlanStep(id="s3", tool="condition", args={"left": "on", "op": "eq", "right": "off"}),
        PlanStep(id="s4", tool="notify", args={"message": "never"}, after=["s3"]),
        PlanStep(id="s5", tool="wait", args={"seconds": 0}),
    ])
    actions = await runner(notes).run(plan, trace_id="t")
    assert notes == ["hot: True"] and actions == []


async def test_a_device_the_edge_does_not_know_is_a_failed_step_and_its_dependants_do_not_run() -> None:
    notes: list[str] = []
    plan = Plan(steps=[
        PlanStep(id="s1", tool="light.turn_on", args={"device_id": "gone_lamp"}),
        PlanStep(id="s2", tool="notify", args={"message": "lamp on"}, after=["s1"]),
        PlanStep(id="s3", tool="notify", args={"message": "independent"}),
    ])
    actions = await runner(notes).run(plan, trace_id="t")
    assert [(a.device_id, a.outcome.value if a.outcome else None) for a in actions] == [("gone_lamp", "error")]
    assert "not a device of this edge" in (actions[0].detail or "")
    assert notes == ["independent"]
