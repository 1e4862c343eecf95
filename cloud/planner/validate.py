"""Plan validation before a plan runs: tools, devices, args, graph shape, references, RBAC, sensitivity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from cloud.fleet import Caller, Device
from cloud.planner.catalogue import ToolSpec, is_device_action, output_fields, tools_for
from cloud.planner.conform import check
from shared.confirmation import sensitive_steps
from shared.errors import PermissionDeniedError, PlanValidationError
from shared.plan import MAX_STEPS, Plan, PlanStep
from shared.refs import references

#: Roles whose plans may act on devices; the others (viewer, auditor) may only read state and notify.
ACTING_ROLES: Final = frozenset({"admin", "operator", "edge"})


def validate_plan(plan: Plan, devices: Sequence[Device], *, caller: Caller) -> list[str]:
    """Check a plan against the devices and the caller; the ids of its sensitive steps (need confirmation)."""
    if not plan.steps:
        raise PlanValidationError("a plan needs at least one step")
    if len(plan.steps) > MAX_STEPS:
        raise PlanValidationError(f"a plan may have at most {MAX_STEPS} steps, this one has {len(plan.steps)}")
    known = {device.device_id: device for device in devices}
    catalogue = {tool.name: tool for tool in tools_for(devices)}
    seen: set[str] = set()
    for step in plan.steps:
        if step.id in seen:
            raise PlanValidationError(f"step id {step.id} is used twice", step=step.id)
        seen.add(step.id)
    for step in plan.steps:
        _check_step(step, known, catalogue, caller)
    ancestors = _ancestors(plan)
    _check_references(plan, ancestors)
    return _sensitive(plan, known)


def _fail(step: PlanStep, message: str) -> PlanValidationError:
    return PlanValidationError(f"step {step.id} ({step.tool}): {message}", step=step.id)


def _check_step(step: PlanStep, known: Mapping[str, Device], catalogue: Mapping[str, ToolSpec], caller: Caller) -> None:
    acts = is_device_action(step.tool)
    if not acts and step.tool not in catalogue and step.tool != "get_state":
        raise _fail(step, f"unknown tool {step.tool!r}")
    if acts or step.tool == "get_state":
        device_id = step.args.get("device_id")
        if not isinstance(device_id, str):
            raise _fail(step, "needs a device_id string")
        device = known.get(device_id)
        if device is None:
            raise _fail(step, f"unknown device {device_id!r}")
        if not caller.sees(device.site):
            raise PermissionDeniedError(f"step {step.id}: device {device_id!r} is on site {device.site!r}, "
                                        f"which {caller.subject} may not see")
        if acts and step.tool not in device.action_names():
            allowed = ", ".join(device.action_names()) or "none"
            raise _fail(step, f"device {device_id!r} is a {device.domain}; its actions are: {allowed}")
        if acts and caller.role not in ACTING_ROLES:
            raise PermissionDeniedError(f"step {step.id}: role {caller.role!r} may not run device actions "
                                        f"({step.tool} on {device_id!r})")
    error = check(step.args, catalogue[step.tool].args, "args")
    if error:
        raise _fail(step, error)
    if len(set(step.after)) != len(step.after):
        raise _fail(step, "lists a step twice in after")


def topological_order(plan: Plan) -> list[PlanStep]:
    """The steps, each after everything in its `after`; raises PlanValidationError on unknown ids or a cycle."""
    steps = {step.id: step for step in plan.steps}
    for step in plan.steps:
        for before in step.after:
            if before == step.id:
                raise _fail(step, "lists itself in after")
            if before not in steps:
                raise _fail(step, f"after names unknown step {before!r}")
    waiting = {step.id: len(set(step.after)) for step in plan.steps}
    dependants: dict[str, list[str]] = {step.id: [] for step in plan.steps}
    for step in plan.steps:
        for before in set(step.after):
            dependants[before].append(step.id)
    ready = [step.id for step in plan.steps if waiting[step.id] == 0]
    order: list[PlanStep] = []
    while ready:
        current = ready.pop(0)
        order.append(steps[current])
        for after in dependants[current]:
            waiting[after] -= 1
            if waiting[after] == 0:
                ready.append(after)
    if len(order) < len(steps):
        stuck = [step.id for step in plan.steps if waiting[step.id] > 0]
        raise PlanValidationError(f"the steps {', '.join(stuck)} form a cycle through after", step=stuck[0])
    return order


def _ancestors(plan: Plan) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for step in topological_order(plan):
        found[step.id] = set(step.after).union(*(found[before] for before in step.after))
    return found


def _check_references(plan: Plan, ancestors: Mapping[str, set[str]]) -> None:
    tools = {step.id: step.tool for step in plan.steps}
    for step in plan.steps:
        for arg, ref in references(step.tool, step.args):
            if ref.step not in tools:
                raise _fail(step, f"{arg} refers to {ref}, but there is no step {ref.step}")
            if ref.step not in ancestors[step.id]:
                raise _fail(step, f"{arg} refers to {ref}, but {ref.step} is not in its after "
                                  "(directly or through another step)")
            fields = output_fields(tools[ref.step])
            if fields is not None and ref.field not in fields:
                offered = ", ".join(sorted(fields)) or "nothing"
                raise _fail(step, f"{arg} refers to {ref}, but {tools[ref.step]} gives {offered}")


def _sensitive(plan: Plan, known: Mapping[str, Device]) -> list[str]:
    # the edge replays cached plans under the same rule (shared.confirmation)
    return sensitive_steps(plan, lambda device_id: known[device_id].device_class)
