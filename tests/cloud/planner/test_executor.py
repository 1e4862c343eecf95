"""Tests for cloud/planner/executor.py with in-memory fakes of the commander, audit log and notifier."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cloud.planner.executor import Executor, RunResult, StepFailedError, compare
from shared.errors import ConfirmationRequiredError, DeviceRejectedError, PermissionDeniedError, PlanValidationError
from shared.plan import PlanStatus
from tests.cloud.planner.sample_home import (
    FakeAudit,
    FakeClock,
    FakeCommander,
    FakeNotifier,
    home_caller,
    home_devices,
    plan_of,
)

TRACE = "trace-42"


class Rig:
    """An executor wired to fakes."""

    def __init__(self, *, step_timeout_s: float = 5.0) -> None:
        self.devices = {d.device_id: d for d in home_devices()}
        self.commander = FakeCommander({d.device_id: dict(d.state) for d in home_devices()})
        self.audit = FakeAudit()
        self.notifier = FakeNotifier()
        self.clock = FakeClock()
        self.executor = Executor(self.commander, self.audit, self.notifier, step_timeout_s=step_timeout_s,
                                 clock=self.clock)

    async def run(self, *steps: tuple[str, str, dict[str, Any], list[str]], role: str = "operator",
                  confirmed: bool = False, cancel: asyncio.Event | None = None) -> RunResult:
        return await self.executor.run(plan_of(*steps), self.devices, caller=home_caller(role), trace_id=TRACE,
                                       confirmed=confirmed, cancel=cancel)


def statuses(result: RunResult) -> dict[str, str]:
    return {step.id: step.status for step in result.steps}


def audit_gaps(audit: FakeAudit, result: RunResult) -> list[str]:
    """What the audit log lacks: a start and an end per executed step, an end per other step, all with the trace."""
    gaps = []
    for step in result.steps:
        actions = [e["action"] for e in audit.entries if e["detail"].get("step") == step.id]
        if f"plan.step.{step.status}" not in actions:
            gaps.append(f"{step.id}: no plan.step.{step.status}")
        if step.status in ("succeeded", "failed") and "plan.step.started" not in actions:
            gaps.append(f"{step.id}: no plan.step.started")
    gaps += [f"entry without the trace: {e}" for e in audit.entries if e["trace_id"] != TRACE]
    return gaps


async def test_a_plan_runs_and_every_step_is_audited() -> None:
    rig = Rig()
    result = await rig.run(("s1", "light.turn_on", {"device_id": "light.kitchen", "brightness_pct": 40}, []),
                           ("s2", "switch.turn_on", {"device_id": "switch.coffee"}, ["s1"]),
                           ("s3", "notify", {"message": "morning!"}, ["s2"]))
    assert result.status is PlanStatus.SUCCEEDED
    assert statuses(result) == {"s1": "succeeded", "s2": "succeeded", "s3": "succeeded"}
    assert rig.commander.calls == [("light.kitchen", "turn_on", {"brightness_pct": 40}, TRACE),
                                   ("switch.coffee", "turn_on", {}, TRACE)]
    assert result.steps[0].output == {"value": "ON", "attributes": {"brightness_pct": 40}}
    assert rig.notifier.messages == [("morning!", TRACE)]
    assert audit_gaps(rig.audit, result) == []
    actions = [e["action"] for e in rig.audit.entries]
    assert (actions[0], actions[-1]) == ("plan.started", "plan.succeeded")
    kitchen = [e for e in rig.audit.entries if e["detail"].get("step") == "s1"]
    assert {e["target"] for e in kitchen} == {"light.kitchen"}
    assert all(e["actor"] == "operator-token" for e in rig.audit.entries)


async def test_the_audit_check_detects_a_missing_entry() -> None:
    """Negative control: an audit sink that loses one step's end entry is caught by audit_gaps."""
    rig = Rig()
    rig.audit.drop = {("plan.step.succeeded", "s2")}
    result = await rig.run(("s1", "switch.turn_on", {"device_id": "switch.coffee"}, []),
                           ("s2", "switch.turn_off", {"device_id": "switch.coffee"}, ["s1"]))
    assert result.status is PlanStatus.SUCCEEDED
    assert audit_gaps(rig.audit, result) == ["s2: no plan.step.succeeded"]


async def test_outputs_feed_later_arguments() -> None:
    rig = Rig()
    result = await rig.run(
        ("s1", "get_state", {"device_id": "light.living"}, []),
        ("s2", "light.turn_on", {"device_id": "light.kitchen", "brightness_pct": "$s1.brightness_pct"}, ["s1"]),
        ("s3", "get_state", {"device_id": "sensor.bedroom_temperature"}, []),
        ("s4", "notify", {"message": "living $s1.value, bedroom $s3.value °C"}, ["s2", "s3"]),
    )
    assert result.status is PlanStatus.SUCCEEDED
    assert result.steps[0].output == {"value": "ON", "attributes": {"brightness_pct": 55}}
    assert rig.commander.calls == [("light.kitchen", "turn_on", {"brightness_pct": 55}, TRACE)]
    assert rig.notifier.messages == [("living ON, bedroom 26.5 °C", TRACE)]


async def test_a_false_condition_skips_its_dependants_only() -> None:
    rig = Rig()
    result = await rig.run(
        ("s1", "get_state", {"device_id": "sensor.bedroom_temperature"}, []),
        ("s2", "condition", {"left": "$s1.value", "op": "gt", "right": 30}, ["s1"]),
        ("s3", "climate.turn_on", {"device_id": "climate.bedroom"}, ["s2"]),
        ("s4", "notify", {"message": "cooling"}, ["s3"]),
        ("s5", "light.turn_off", {"device_id": "light.kitchen"}, ["s1"]),
    )
    assert statuses(result) == {"s1": "succeeded", "s2": "succeeded", "s3": "skipped", "s4": "skipped",
                                "s5": "succeeded"}
    assert result.steps[1].output == {"value": False}
    assert result.steps[2].error == "condition s2 is false"
    assert result.status is PlanStatus.SUCCEEDED
    assert rig.commander.calls == [("light.kitchen", "turn_off", {}, TRACE)]
    assert rig.notifier.messages == []
    assert audit_gaps(rig.audit, result) == []


async def test_a_true_condition_lets_dependants_run() -> None:
    rig = Rig()
    result = await rig.run(
        ("s1", "get_state", {"device_id": "sensor.bedroom_temperature"}, []),
        ("s2", "condition", {"left": "$s1.value", "op": "gt", "right": 26}, ["s1"]),
        ("s3", "climate.set_temperature", {"device_id": "climate.bedroom", "temperature": 24}, ["s2"]),
    )
    assert statuses(result) == {"s1": "succeeded", "s2": "succeeded", "s3": "succeeded"}
    assert rig.commander.calls == [("climate.bedroom", "set_temperature", {"temperature": 24}, TRACE)]


async def test_a_failed_step_skips_dependants_and_fails_the_run() -> None:
    rig = Rig()

    async def refuse() -> dict[str, Any]:
        raise DeviceRejectedError("vacuum is stuck")

    rig.commander.behaviours["vacuum.robot"] = refuse
    result = await rig.run(("s1", "vacuum.start", {"device_id": "vacuum.robot"}, []),
                           ("s2", "notify", {"message": "cleaning"}, ["s1"]),
                           ("s3", "light.turn_on", {"device_id": "light.kitchen"}, []))
    assert result.status is PlanStatus.FAILED
    assert statuses(result) == {"s1": "failed", "s2": "skipped", "s3": "succeeded"}
    assert result.steps[0].error == "device_rejected: vacuum is stuck"
    assert result.steps[1].error == "s1 failed"
    assert rig.notifier.messages == []
    assert rig.audit.entries[-1]["action"] == "plan.failed"
    assert audit_gaps(rig.audit, result) == []


async def test_a_resolved_value_out_of_range_fails_the_step() -> None:
    rig = Rig()
    rig.commander.states["light.living"]["brightness_pct"] = 180
    result = await rig.run(
        ("s1", "get_state", {"device_id": "light.living"}, []),
        ("s2", "light.turn_on", {"device_id": "light.kitchen", "brightness_pct": "$s1.brightness_pct"}, ["s1"]),
    )
    assert statuses(result) == {"s1": "succeeded", "s2": "failed"}
    assert "after resolving references" in str(result.steps[1].error)
    assert rig.commander.calls == []


async def test_a_hung_device_times_out_and_others_still_run() -> None:
    rig = Rig(step_timeout_s=0.05)
    never = asyncio.Event()

    async def hang() -> dict[str, Any]:
        await never.wait()
        return {}

    rig.commander.behaviours["media_player.tv"] = hang
    result = await rig.run(("s1", "media_player.turn_on", {"device_id": "media_player.tv"}, []),
                           ("s2", "light.turn_on", {"device_id": "light.kitchen"}, []))
    assert statuses(result) == {"s1": "failed", "s2": "succeeded"}
    assert result.steps[0].error == "timed out after 0.05 s"
    assert result.status is PlanStatus.FAILED


async def test_independent_steps_run_concurrently() -> None:
    rig = Rig(step_timeout_s=2.0)
    both = asyncio.Barrier(2)  # passes only when both actions are in flight at once

    async def meet() -> dict[str, Any]:
        await both.wait()
        return {"state": "ON"}

    rig.commander.behaviours["light.kitchen"] = meet
    rig.commander.behaviours["light.bedroom"] = meet
    result = await rig.run(("s1", "light.turn_on", {"device_id": "light.kitchen"}, []),
                           ("s2", "light.turn_on", {"device_id": "light.bedroom"}, []))
    assert statuses(result) == {"s1": "succeeded", "s2": "succeeded"}


async def test_cancel_stops_the_remaining_steps() -> None:
    rig = Rig()
    cancel = asyncio.Event()
    never = asyncio.Event()

    async def hang_then_cancel() -> dict[str, Any]:
        cancel.set()
        await never.wait()
        return {}

    rig.commander.behaviours["vacuum.robot"] = hang_then_cancel
    result = await rig.run(("s1", "light.turn_on", {"device_id": "light.kitchen"}, []),
                           ("s2", "vacuum.start", {"device_id": "vacuum.robot"}, ["s1"]),
                           ("s3", "notify", {"message": "clean"}, ["s2"]), cancel=cancel)
    assert result.status is PlanStatus.CANCELLED
    assert statuses(result) == {"s1": "succeeded", "s2": "cancelled", "s3": "cancelled"}
    assert rig.notifier.messages == []
    assert rig.audit.entries[-1]["action"] == "plan.cancelled"
    assert audit_gaps(rig.audit, result) == []


async def test_an_unused_cancel_event_changes_nothing() -> None:
    rig = Rig()
    result = await rig.run(("s1", "light.turn_on", {"device_id": "light.kitchen"}, []), cancel=asyncio.Event())
    assert result.status is PlanStatus.SUCCEEDED


async def test_cancelling_the_caller_is_not_swallowed() -> None:
    rig = Rig()
    never, started = asyncio.Event(), asyncio.Event()

    async def hang() -> dict[str, Any]:
        started.set()
        await never.wait()
        return {}

    rig.commander.behaviours["vacuum.robot"] = hang
    task = asyncio.create_task(rig.run(("s1", "vacuum.start", {"device_id": "vacuum.robot"}, [])))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_wait_uses_the_injected_clock() -> None:
    rig = Rig(step_timeout_s=0.01)  # a wait is not bounded by the step timeout
    result = await rig.run(("s1", "wait", {"seconds": 3600}, []),
                           ("s2", "light.turn_off", {"device_id": "light.kitchen"}, ["s1"]))
    assert result.status is PlanStatus.SUCCEEDED
    assert rig.clock.waits == [3600.0]


async def test_sensitive_plans_need_confirmation() -> None:
    rig = Rig()
    step: tuple[str, str, dict[str, Any], list[str]] = ("s1", "lock.unlock", {"device_id": "lock.front"}, [])
    with pytest.raises(ConfirmationRequiredError) as caught:
        await rig.run(step)
    assert caught.value.steps == ["s1"]
    assert caught.value.code == "confirmation_required"
    assert isinstance(caught.value, PermissionDeniedError)
    assert rig.commander.calls == []
    assert [e["action"] for e in rig.audit.entries] == ["plan.refused"]
    result = await rig.run(step, confirmed=True)
    assert result.status is PlanStatus.SUCCEEDED
    assert rig.commander.calls == [("lock.front", "unlock", {}, TRACE)]


async def test_invalid_or_forbidden_plans_never_reach_a_device() -> None:
    rig = Rig()
    with pytest.raises(PlanValidationError):
        await rig.run(("s1", "light.turn_on", {"device_id": "light.garden"}, []))
    with pytest.raises(PermissionDeniedError):
        await rig.run(("s1", "light.turn_on", {"device_id": "light.office"}, []))
    with pytest.raises(PermissionDeniedError):
        await rig.run(("s1", "light.turn_on", {"device_id": "light.kitchen"}, []), role="viewer")
    assert rig.commander.calls == []
    result = await rig.run(("s1", "get_state", {"device_id": "lock.front"}, []), role="viewer")
    assert result.steps[0].output == {"value": "locked", "attributes": {}}


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [("26.5", "gt", 26, True), (26, "le", "26.0", True), ("ON", "eq", "on", True), ("off", "ne", "on", True),
     (True, "eq", False, False), (3, "lt", 2.5, False)],
)
def test_compare(left: Any, op: str, right: Any, expected: bool) -> None:
    assert compare(left, op, right) is expected


def test_compare_refuses_ordering_mixed_types() -> None:
    with pytest.raises(StepFailedError, match="cannot compare"):
        compare("on", "gt", True)
