"""Acceptance: >= 200 varied requests through LocalPlanner + PlannerEngine on a randomly initialised GLM-4.

Every plan parses, conforms to the request's JSON schema, passes `validate_plan` for the caller and names only
devices the caller can see. Homes of different sizes span several sites; callers see only some of them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import torch

from cloud.planner.catalogue import describe
from cloud.planner.conform import check
from cloud.planner.engine import PlannerEngine
from cloud.planner.local import LocalPlanner
from cloud.planner.plan_grammar import steps_for
from cloud.planner.prompt import render_prompt
from cloud.planner.random_model import random_checkpoint
from cloud.planner.runner import ModelRunner
from cloud.planner.samples import Case
from cloud.planner.samples import cases as sample_cases
from cloud.planner.scheduler import BatchPolicy
from cloud.planner.schema import plan_dict, plan_schema
from cloud.planner.validate import validate_plan
from shared.errors import AutoGLMError

REQUESTS = 224


def cases(seed: int = 0) -> list[Case]:
    """The test's requests (`cloud.planner.samples`)."""
    return sample_cases(REQUESTS, seed)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelRunner]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    prompts = [render_prompt(c.request.text, c.request.language, describe(c.visible)) for c in cases(seed=1)[:64]]
    checkpoint = random_checkpoint(tmp_path_factory.mktemp("random-glm") / "model", prompts, seed=3,
                                   vocab_size=768, layers=2, hidden=64, ffn=128, init_std=0.3)
    yield ModelRunner.load(checkpoint, dtype="fp32", device="cpu")
    torch.set_num_threads(threads)


async def plan_all(runner: ModelRunner, items: list[Case], *, max_new_tokens: int) -> list[object]:
    """Each case's plan (or the PlannerError it raised), through the batching engine."""
    engine = PlannerEngine(lambda: runner, policy=BatchPolicy(max_batch_size=32, batch_timeout_micros=20_000),
                           request_timeout_s=600, max_new_tokens=max_new_tokens)
    planner = LocalPlanner(engine)
    async with engine:
        return await asyncio.gather(*(planner.propose(c.request, c.visible, trace_id=f"t{i}")
                                      for i, c in enumerate(items)), return_exceptions=True)


@pytest.mark.timeout(300)
def test_every_plan_of_a_random_model_parses_validates_and_names_only_visible_devices(runner: ModelRunner) -> None:
    items = cases()
    assert len(items) >= 200 and len({len(c.visible) for c in items}) >= 5
    assert sum(len(c.visible) < len(c.home) for c in items) >= 50  # many callers see only part of a home
    plans = asyncio.run(plan_all(runner, items, max_new_tokens=160))
    failures = [(i, p) for i, p in enumerate(plans) if isinstance(p, BaseException)]
    assert not failures, failures[:3]
    shapes = set()
    for case, plan in zip(items, plans, strict=True):
        assert not isinstance(plan, BaseException)
        data = plan_dict(plan)  # type: ignore[arg-type]
        assert check(data, plan_schema(case.visible, max_steps=steps_for(case.visible))) is None, json.dumps(data)
        validate_plan(plan, case.visible, caller=case.caller)  # type: ignore[arg-type]
        named = {s["args"]["device_id"] for s in data["steps"] if "device_id" in s["args"]}
        assert named <= {d.device_id for d in case.visible}
        assert all(case.caller.sees(d.site) for d in case.visible if d.device_id in named)
        shapes.add(tuple(s["tool"] for s in data["steps"]))
    assert len(shapes) >= 20  # varied plans, not one plan repeated


@pytest.mark.timeout(300)
def test_a_tight_token_budget_still_ends_in_valid_plans(runner: ModelRunner) -> None:
    """With 72 new tokens most rows must be closed by the budget rule instead of by the model."""
    items = cases(seed=3)[:64]
    closed = runner.closing_rows
    plans = asyncio.run(plan_all(runner, items, max_new_tokens=72))
    assert runner.closing_rows - closed >= 32
    for case, plan in zip(items, plans, strict=True):
        assert not isinstance(plan, BaseException), plan
        validate_plan(plan, case.visible, caller=case.caller)  # type: ignore[arg-type]


def test_the_same_model_under_the_bare_json_schema_gives_plans_that_do_not_validate(runner: ModelRunner) -> None:
    """Negative control: the plan schema alone lets a random model write invalid graphs, which the check catches."""
    items = [c for c in cases(seed=2) if len(c.visible) >= 5][:32]
    engine = PlannerEngine(lambda: runner, policy=BatchPolicy(max_batch_size=32, batch_timeout_micros=20_000),
                           request_timeout_s=600, max_new_tokens=160)
    planner = LocalPlanner(engine, schema_for=plan_schema)

    async def go() -> list[object]:
        async with engine:
            return await asyncio.gather(*(planner.propose(c.request, c.visible, trace_id="t") for c in items),
                                        return_exceptions=True)

    invalid = 0
    for case, plan in zip(items, asyncio.run(go()), strict=True):
        if isinstance(plan, AutoGLMError):
            invalid += 1
            continue
        try:
            validate_plan(plan, case.visible, caller=case.caller)  # type: ignore[arg-type]
        except AutoGLMError:  # PlanValidationError, or PermissionDeniedError
            invalid += 1
    assert invalid > 0
