"""Tests for cloud/planner/validate.py: every way a plan can be wrong, RBAC, and sensitive steps."""

from __future__ import annotations

from typing import Any

import pytest

from cloud.fleet import BULK_ACTION_LIMIT, Caller
from cloud.planner.validate import topological_order, validate_plan
from shared.errors import PermissionDeniedError, PlanValidationError
from shared.plan import MAX_STEPS, Plan, PlanStep
from tests.cloud.planner.sample_home import home_caller, home_devices, plan_of

Step = tuple[str, str, dict[str, Any], list[str]]

GOOD: list[Step] = [
    ("s1", "get_state", {"device_id": "sensor.bedroom_temperature"}, []),
    ("s2", "condition", {"left": "$s1.value", "op": "gt", "right": 26}, ["s1"]),
    ("s3", "climate.set_temperature", {"device_id": "climate.bedroom", "temperature": 24}, ["s2"]),
    ("s4", "notify", {"message": "卧室 $s1.value 度，已开空调"}, ["s3"]),
]


def _validate(*steps: Step, role: str = "operator") -> list[str]:
    return validate_plan(plan_of(*steps), home_devices(), caller=home_caller(role))


def test_a_good_plan_passes_without_sensitive_steps() -> None:
    assert _validate(*GOOD) == []


@pytest.mark.parametrize(
    ("steps", "step", "fragment"),
    [
        ([("s1", "light.explode", {"device_id": "light.kitchen"}, [])], "s1", "unknown tool"),
        ([("s1", "sensor.turn_on", {"device_id": "sensor.bedroom_temperature"}, [])], "s1", "unknown tool"),
        ([("s1", "light.turn_on", {"device_id": "light.garden"}, [])], "s1", "unknown device 'light.garden'"),
        ([("s1", "get_state", {"device_id": "sensor.nowhere"}, [])], "s1", "unknown device"),
        ([("s1", "light.turn_on", {}, [])], "s1", "needs a device_id"),
        ([("s1", "lock.unlock", {"device_id": "light.kitchen"}, [])], "s1", "is a light; its actions are"),
        ([("s1", "light.turn_on", {"device_id": "light.kitchen", "speed": 3}, [])], "s1", "unexpected 'speed'"),
        ([("s1", "climate.set_temperature", {"device_id": "climate.bedroom"}, [])], "s1", "missing 'temperature'"),
        ([("s1", "climate.set_temperature", {"device_id": "climate.bedroom", "temperature": 40}, [])], "s1",
         "temperature"),
        ([("s1", "light.turn_on", {"device_id": "light.kitchen", "brightness_pct": -1}, [])], "s1", "brightness_pct"),
        ([("s1", "light.turn_on", {"device_id": "light.kitchen", "brightness_pct": True}, [])], "s1",
         "brightness_pct"),
        ([("s1", "light.turn_on", {"device_id": "light.kitchen", "brightness_pct": 33.3333333}, [])], "s1",
         "at most 6 decimals"),
        ([("s1", "climate.set_hvac_mode", {"device_id": "climate.bedroom", "hvac_mode": "turbo"}, [])], "s1",
         "hvac_mode"),
        ([("s1", "wait", {"seconds": -5}, [])], "s1", "seconds"),
        ([("s1", "notify", {"message": 'say "hi"'}, [])], "s1", "may not contain"),
        ([("s1", "notify", {"message": ""}, [])], "s1", "shorter than"),
        ([("s1", "condition", {"left": 1, "op": "~", "right": 2}, [])], "s1", "op"),
        ([("s1", "wait", {"seconds": 1}, []), ("s1", "wait", {"seconds": 2}, [])], "s1", "used twice"),
        ([("s1", "wait", {"seconds": 1}, ["s9"])], "s1", "unknown step 's9'"),
        ([("s1", "wait", {"seconds": 1}, ["s1"])], "s1", "lists itself"),
        ([("s1", "wait", {"seconds": 1}, []), ("s2", "wait", {"seconds": 1}, ["s1", "s1"])], "s2", "twice"),
        ([("s1", "wait", {"seconds": 1}, ["s3"]), ("s2", "wait", {"seconds": 1}, ["s1"]),
          ("s3", "wait", {"seconds": 1}, ["s2"])], "s1", "cycle"),
        ([("s1", "get_state", {"device_id": "light.living"}, []),
          ("s2", "light.turn_on", {"device_id": "light.kitchen", "brightness_pct": "$s1.value"}, [])], "s2",
         "not in its after"),
        ([("s1", "light.turn_on", {"device_id": "light.kitchen", "brightness_pct": "$s7.value"}, [])], "s1",
         "there is no step s7"),
        ([("s1", "wait", {"seconds": 1}, []), ("s2", "notify", {"message": "done $s1.value"}, ["s1"])], "s2",
         "wait gives nothing"),
        ([("s1", "condition", {"left": 1, "op": "eq", "right": 1}, []),
          ("s2", "notify", {"message": "$s1.attributes"}, ["s1"])], "s2", "condition gives value"),
    ],
)
def test_broken_plans_are_refused(steps: list[Step], step: str, fragment: str) -> None:
    with pytest.raises(PlanValidationError) as caught:
        _validate(*steps)
    assert fragment in str(caught.value)
    assert caught.value.step == step
    assert caught.value.code == "invalid_plan"


def test_empty_and_oversized_plans_are_refused() -> None:
    with pytest.raises(PlanValidationError, match="at least one step"):
        validate_plan(Plan(steps=[]), home_devices(), caller=home_caller())
    steps = [PlanStep(id=f"s{i}", tool="wait", args={"seconds": 1}) for i in range(MAX_STEPS + 1)]
    with pytest.raises(PlanValidationError, match=f"at most {MAX_STEPS} steps"):
        validate_plan(Plan.model_construct(steps=steps), home_devices(), caller=home_caller())


def test_references_may_reach_through_other_steps() -> None:
    assert _validate(
        ("s1", "get_state", {"device_id": "light.living"}, []),
        ("s2", "wait", {"seconds": 5}, ["s1"]),
        ("s3", "light.turn_on", {"device_id": "light.kitchen", "brightness_pct": "$s1.brightness_pct"}, ["s2"]),
    ) == []


def test_after_may_name_a_step_listed_later() -> None:
    plan = plan_of(("s1", "notify", {"message": "done"}, ["s2"]), ("s2", "wait", {"seconds": 1}, []))
    assert validate_plan(plan, home_devices(), caller=home_caller()) == []
    assert [step.id for step in topological_order(plan)] == ["s2", "s1"]


def test_a_device_on_another_site_is_forbidden() -> None:
    with pytest.raises(PermissionDeniedError, match="office"):
        _validate(("s1", "light.turn_on", {"device_id": "light.office"}, []))
    with pytest.raises(PermissionDeniedError):
        _validate(("s1", "get_state", {"device_id": "light.office"}, []), role="viewer")
    admin_everywhere = Caller("root", "admin", None)
    plan = plan_of(("s1", "light.turn_on", {"device_id": "light.office"}, []))
    assert validate_plan(plan, home_devices(), caller=admin_everywhere) == []


@pytest.mark.parametrize(("role", "allowed"), [("admin", True), ("operator", True), ("edge", True),
                                               ("viewer", False), ("auditor", False), ("guest", False)])
def test_only_acting_roles_may_run_device_actions(role: str, allowed: bool) -> None:
    action: Step = ("s1", "switch.turn_on", {"device_id": "switch.coffee"}, [])
    if allowed:
        assert _validate(action, role=role) == []
    else:
        with pytest.raises(PermissionDeniedError, match="may not run device actions"):
            _validate(action, role=role)


@pytest.mark.parametrize("role", ["viewer", "auditor"])
def test_readers_may_read_state_and_notify(role: str) -> None:
    assert _validate(("s1", "get_state", {"device_id": "sensor.bedroom_temperature"}, []),
                     ("s2", "notify", {"message": "it is $s1.value"}, ["s1"]), role=role) == []


@pytest.mark.parametrize(
    ("tool", "args", "sensitive"),
    [
        ("lock.unlock", {"device_id": "lock.front"}, True),
        ("lock.lock", {"device_id": "lock.front"}, False),
        ("alarm_control_panel.alarm_disarm", {"device_id": "alarm_control_panel.house"}, True),
        ("alarm_control_panel.alarm_arm_away", {"device_id": "alarm_control_panel.house"}, False),
        ("cover.open_cover", {"device_id": "cover.garage"}, True),
        ("cover.open_cover", {"device_id": "cover.blinds"}, False),
        ("cover.close_cover", {"device_id": "cover.garage"}, False),
        ("cover.set_cover_position", {"device_id": "cover.garage", "position": 40}, True),
        ("cover.set_cover_position", {"device_id": "cover.garage", "position": 0}, False),
        ("cover.set_cover_position", {"device_id": "cover.blinds", "position": 40}, False),
        ("light.turn_on", {"device_id": "light.kitchen"}, False),
    ],
)
def test_sensitive_steps(tool: str, args: dict[str, Any], sensitive: bool) -> None:
    found = _validate(("s1", "wait", {"seconds": 1}, []), ("s2", tool, args, ["s1"]))
    assert found == (["s2"] if sensitive else [])


def test_bulk_actions_are_sensitive_past_the_limit() -> None:
    lights = ["light.kitchen", "light.living", "light.bedroom"]
    def steps(count: int) -> list[Step]:
        return [(f"s{i + 1}", "light.toggle", {"device_id": lights[i % 3]}, []) for i in range(count)]
    assert _validate(*steps(BULK_ACTION_LIMIT)) == []
    many = [*steps(BULK_ACTION_LIMIT + 1), ("s20", "notify", {"message": "all done"}, [])]
    assert _validate(*many) == [f"s{i + 1}" for i in range(BULK_ACTION_LIMIT + 1)]
