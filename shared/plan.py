"""Planner wire contract: requests, task graphs of tool calls, and the tool names both sides know.

A plan is `{"steps": [{"id", "tool", "args", "after": [...]}]}`. A step's argument may refer to an
earlier step's output as the string `"$<step_id>.<field>"` (for example `"$s1.value"`); the step must
then list that id in `after` (directly or through another step).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

#: Most steps a plan may have; bigger plans are refused before they run.
MAX_STEPS: Final = 32
#: Step ids are short names so a grammar can enumerate them ("s1", "s2", ...).
STEP_ID_PATTERN: Final = r"^s[0-9]{1,2}$"
#: "$s1.value": an argument that takes an earlier step's output field.
REFERENCE = re.compile(r"^\$(s[0-9]{1,2})\.([a-z_]{1,32})$")


class Tool(StrEnum):
    """Tools a plan may call. Device actions use HA service names per domain (`light.turn_on`)."""

    GET_STATE = "get_state"  # args: {"device_id"} -> {"value": <state>, "attributes": {...}}
    WAIT = "wait"  # args: {"seconds"} -> {}
    NOTIFY = "notify"  # args: {"message"} -> {}
    CONDITION = "condition"  # args: {"left", "op", "right"} -> {"value": bool}; false skips dependants


#: Comparison operators the `condition` tool accepts.
CONDITION_OPS: Final = ("eq", "ne", "gt", "ge", "lt", "le")


class PlanStep(BaseModel):
    """One tool call; `after` lists the steps that must finish first."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=STEP_ID_PATTERN)
    tool: str = Field(min_length=1, max_length=64, description="a Tool value or a device action 'domain.service'")
    args: dict[str, Any] = Field(default_factory=dict)
    after: list[str] = Field(default_factory=list, max_length=MAX_STEPS)


class Plan(BaseModel):
    """A task graph of tool calls."""

    model_config = ConfigDict(extra="forbid")

    steps: list[PlanStep] = Field(default_factory=list, max_length=MAX_STEPS)


class PlanRequest(BaseModel):
    """Body of `POST /v1/plan`."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1000)
    edge_id: str = Field(min_length=1, max_length=128)
    language: str = Field(default="en", pattern=r"^[a-z]{2}(-[a-z]{2})?$")


class PlanStatus(StrEnum):
    """Lifecycle of a stored plan."""

    PROPOSED = "proposed"  # made, not run
    NEEDS_CONFIRMATION = "needs_confirmation"  # has sensitive steps; runs only with confirm=true
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class PlanResponse(BaseModel):
    """Answer of `POST /v1/plan`: the plan plus what the cloud knows about it."""

    plan_id: str
    plan: Plan
    status: PlanStatus
    trace_id: str
    sensitive_steps: list[str] = Field(default_factory=list)
    model: str | None = None  # planner model name/version that produced it
