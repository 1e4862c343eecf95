"""The per-request plan JSON schema: only the caller's devices, only their domains' actions, typed args.

The schema is the subset xgrammar compiles (`anyOf`, `enum`, `required`, `additionalProperties: false`,
`minItems`/`maxItems`, `pattern`, no `$ref`). xgrammar enforces the declared property order, so plans are
written with `plan_to_json`, which orders keys the same way; serialise the schema without `sort_keys`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cloud.fleet import DOMAIN_ACTIONS, Device
from cloud.planner.catalogue import ToolSpec, tools_for
from shared.plan import MAX_STEPS, STEP_ID_PATTERN, Plan, Tool

#: Key order of a step, as the schema declares it.
STEP_KEYS = ("id", "tool", "args", "after")
_GENERIC_ARG_ORDER: dict[str, tuple[str, ...]] = {
    Tool.GET_STATE.value: ("device_id",),
    Tool.WAIT.value: ("seconds",),
    Tool.NOTIFY.value: ("message",),
    Tool.CONDITION.value: ("left", "op", "right"),
}


def step_schema(tool: ToolSpec, *, max_steps: int = MAX_STEPS) -> dict[str, Any]:
    """The schema of one step calling `tool`."""
    step_id = {"type": "string", "pattern": STEP_ID_PATTERN}
    return {
        "type": "object",
        "properties": {
            "id": step_id,
            "tool": {"type": "string", "const": tool.name},
            "args": tool.args,
            "after": {"type": "array", "items": step_id, "maxItems": max_steps},
        },
        "required": list(STEP_KEYS),
        "additionalProperties": False,
    }


def plan_schema(devices: Sequence[Device], *, max_steps: int = MAX_STEPS) -> dict[str, Any]:
    """A JSON schema whose plans name only `devices`, only actions of each device's domain, with typed args."""
    if not 1 <= max_steps <= MAX_STEPS:
        raise ValueError(f"max_steps must be 1..{MAX_STEPS}, got {max_steps}")
    variants = [step_schema(tool, max_steps=max_steps) for tool in tools_for(devices)]
    return {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": {"anyOf": variants}, "minItems": 1, "maxItems": max_steps},
        },
        "required": ["steps"],
        "additionalProperties": False,
    }


def arg_order(tool: str) -> tuple[str, ...]:
    """The order the schema declares a tool's args in (unknown tools: none)."""
    if tool in _GENERIC_ARG_ORDER:
        return _GENERIC_ARG_ORDER[tool]
    domain, _, service = tool.partition(".")
    kinds = DOMAIN_ACTIONS.get(domain, {}).get(service)
    return () if kinds is None else ("device_id", *kinds)


def plan_dict(plan: Plan) -> dict[str, Any]:
    """The plan as a dict whose keys follow the schema's order (unknown keys last, as given)."""
    steps = []
    for step in plan.steps:
        order = arg_order(step.tool)
        args = {name: step.args[name] for name in order if name in step.args}
        args |= {name: value for name, value in step.args.items() if name not in args}
        steps.append({"id": step.id, "tool": step.tool, "args": args, "after": list(step.after)})
    return {"steps": steps}


def plan_to_json(plan: Plan, *, separators: tuple[str, str] = (",", ":")) -> str:
    """The plan as JSON in the schema's key order, as a grammar compiled with the same `separators` accepts it."""
    return json.dumps(plan_dict(plan), ensure_ascii=False, separators=separators)
