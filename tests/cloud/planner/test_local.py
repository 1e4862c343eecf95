"""LocalPlanner over the engine: prompt and schema per request, parsed plans, clear errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from cloud.fleet import Device
from cloud.planner.batch import GenerationOutput, GenerationRequest
from cloud.planner.engine import PlannerEngine
from cloud.planner.local import LocalPlanner, parse_plan
from cloud.planner.prompt import ASSISTANT, SYSTEM, USER
from cloud.planner.scheduler import BatchPolicy
from cloud.planner.schema import plan_schema
from shared.errors import PlanValidationError
from shared.plan import PlanRequest

DEVICES = [Device("light.kitchen", "e1", "home", "light", "Kitchen light", "kitchen")]
PLAN = '{"steps":[{"id":"s1","tool":"light.turn_off","args":{"device_id":"light.kitchen"},"after":[]}]}'


class ScriptedRunner:
    """Answers every request with a fixed text and remembers what it was asked."""

    def __init__(self, text: str, reason: str = "stop") -> None:
        self.text, self.reason = text, reason
        self.requests: list[GenerationRequest] = []

    def generate(self, batch: Sequence[GenerationRequest], *,
                 should_stop: Callable[[int], bool]) -> list[GenerationOutput]:
        self.requests += batch
        return [GenerationOutput(self.text, 30, self.reason, 0.0) for _ in batch]  # type: ignore[arg-type]


def planner_for(runner: ScriptedRunner, **kwargs: Any) -> LocalPlanner:
    engine = PlannerEngine(lambda: runner, policy=BatchPolicy(batch_timeout_micros=0))
    return LocalPlanner(engine, **kwargs)


async def test_propose_returns_the_parsed_plan_and_sends_prompt_and_schema() -> None:
    runner = ScriptedRunner(PLAN)
    planner = planner_for(runner)
    async with planner.engine:
        plan = await planner.propose(PlanRequest(text="kitchen light off", edge_id="e1"), DEVICES, trace_id="t1")
    assert [(s.id, s.tool, s.args) for s in plan.steps] == [("s1", "light.turn_off", {"device_id": "light.kitchen"})]
    (request,) = runner.requests
    assert request.prompt.startswith(SYSTEM) and request.prompt.endswith(ASSISTANT)
    assert "light.kitchen" in request.prompt and f"{USER}[en] kitchen light off" in request.prompt
    assert request.schema is None and request.grammar is not None and '\\"light.kitchen\\"' in request.grammar


async def test_schema_for_decodes_under_a_json_schema_instead() -> None:
    runner = ScriptedRunner(PLAN)
    planner = planner_for(runner, schema_for=plan_schema)
    async with planner.engine:
        await planner.propose(PlanRequest(text="kitchen light off", edge_id="e1"), DEVICES, trace_id="t1")
    (request,) = runner.requests
    assert request.grammar is None and request.schema is not None and '"light.kitchen"' in request.schema


async def test_unconstrained_mode_sends_no_schema() -> None:
    runner = ScriptedRunner(PLAN)
    planner = planner_for(runner, constrained=False, describe=lambda devices: "devices: none")
    async with planner.engine:
        await planner.propose(PlanRequest(text="x", edge_id="e1"), [], trace_id="t")
    assert runner.requests[0].schema is None and runner.requests[0].grammar is None
    assert "devices: none" in runner.requests[0].prompt


async def test_a_cut_off_plan_is_a_validation_error() -> None:
    planner = planner_for(ScriptedRunner('{"steps":[', reason="length"))
    async with planner.engine:
        with pytest.raises(PlanValidationError, match="did not finish"):
            await planner.propose(PlanRequest(text="x", edge_id="e1"), DEVICES, trace_id="t")


async def test_status_follows_the_engine() -> None:
    planner = planner_for(ScriptedRunner(PLAN))
    assert planner.status() == "lazy"
    async with planner.engine:
        assert planner.status() == "loaded"


@pytest.mark.parametrize(("text", "message"), [("not json", "not JSON"), ('{"steps": 3}', "not a plan"),
                                               ('{"plan": []}', "not a plan")])
def test_parse_plan_refuses_non_plans(text: str, message: str) -> None:
    with pytest.raises(PlanValidationError, match=message):
        parse_plan(text)
