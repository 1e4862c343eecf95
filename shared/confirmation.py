"""What needs the user's confirmation, and what a confirmation is bound to: one rule for the cloud and the edge.

A plan step is sensitive when it unlocks, disarms or opens a garage door or gate (also part way), and a plan with
more device actions than `BULK_ACTION_LIMIT` is sensitive as a whole. The cloud's validator and the edge's runner
of cached cloud plans both ask `sensitive_steps`; a confirmation names the plan the user saw by `plan_digest`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Final

from shared.plan import Plan, PlanStep, Tool

#: Actions that need the user's confirmation before they run, whoever proposed them.
SENSITIVE_ACTIONS: Final = frozenset({"lock.unlock", "alarm_control_panel.alarm_disarm", "cover.open_cover"})
#: Covers whose opening is sensitive (garage doors, gates); other covers open freely.
SENSITIVE_COVER_CLASSES: Final = frozenset({"garage", "gate", "door"})
#: More device actions than this in one plan is a bulk action and needs confirmation.
BULK_ACTION_LIMIT: Final = 10

_NOT_ACTIONS: Final = frozenset(tool.value for tool in Tool)

DeviceClass = Callable[[str], str | None]  # device_id -> its device_class (None when it has none or is unknown)


def is_action(tool: str) -> bool:
    """True for a device action ('domain.service'), False for the plan's own tools (get_state, wait, ...)."""
    return tool not in _NOT_ACTIONS


def sensitive_step(step: PlanStep, device_class: str | None) -> bool:
    """True when this one step needs a confirmation on its own (bulk aside)."""
    opens_barrier = (device_class or "").lower() in SENSITIVE_COVER_CLASSES
    if step.tool == "cover.open_cover":
        return opens_barrier
    if step.tool == "cover.set_cover_position":
        # Opening a garage door part way is still opening it; an unknown (referenced) position counts too.
        position = step.args.get("position")
        return opens_barrier and not (isinstance(position, int | float) and position <= 0)
    return step.tool in SENSITIVE_ACTIONS


def sensitive_steps(plan: Plan, device_class: DeviceClass) -> list[str]:
    """The ids of the plan's steps that need a confirmation (every action of a bulk plan)."""
    actions = [step for step in plan.steps if is_action(step.tool)]
    if len(actions) > BULK_ACTION_LIMIT:
        return [step.id for step in actions]
    return [step.id for step in actions if sensitive_step(step, device_class(str(step.args.get("device_id", ""))))]


def plan_digest(plan: Plan) -> str:
    """A short, stable fingerprint of the plan's steps: the plan a confirmation was given for."""
    canonical = json.dumps(plan.model_dump(mode="json")["steps"], sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
