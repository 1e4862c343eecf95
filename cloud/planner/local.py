"""The local planner: prompt + per-request plan schema -> the batching engine -> a parsed `Plan`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from cloud.fleet import Device
from cloud.planner import catalogue
from cloud.planner.engine import EngineStatus, GenerationResult, PlannerEngine
from cloud.planner.plan_grammar import plan_grammar
from cloud.planner.prompt import render_prompt
from shared.errors import PlanValidationError
from shared.plan import Plan, PlanRequest

Describe = Callable[[Sequence[Device]], str]
SchemaFor = Callable[[Sequence[Device]], dict[str, Any]]
GrammarFor = Callable[[Sequence[Device]], str]


def parse_plan(text: str) -> Plan:
    """A model's output as a Plan; PlanValidationError when it is not a plan."""
    try:
        return Plan.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise PlanValidationError(f"the planner's output is not JSON: {exc.msg} at {exc.pos}") from exc
    except ValidationError as exc:
        raise PlanValidationError(f"the planner's output is not a plan: {exc.errors()[0]['msg']}") from exc


class LocalPlanner:
    """`cloud.fleet.Planner` over the in-process GLM engine, with grammar-constrained decoding.

    By default each request is decoded under `plan_grammar` of its devices, so every finished output is a plan
    that validates; `schema_for` decodes under a JSON schema instead (whose plans still need validation).
    """

    def __init__(self, engine: PlannerEngine, *, describe: Describe | None = None,
                 schema_for: SchemaFor | None = None, grammar_for: GrammarFor | None = None,
                 timeout_s: float | None = None, model_name: str | None = None, constrained: bool = True) -> None:
        if schema_for is not None and grammar_for is not None:
            raise ValueError("give schema_for or grammar_for, not both")
        self.engine = engine
        self.model_name = model_name
        self._describe = describe or catalogue.describe
        self._schema_for = schema_for
        self._grammar_for = grammar_for or plan_grammar
        self._timeout_s = timeout_s
        self._constrained = constrained

    def status(self) -> EngineStatus:
        """The engine's state, for /readyz."""
        return self.engine.status()

    def prompt(self, request: PlanRequest, devices: Sequence[Device]) -> str:
        """The prompt the model completes for this request."""
        return render_prompt(request.text, request.language, self._describe(devices))

    async def complete(self, request: PlanRequest, devices: Sequence[Device]) -> GenerationResult:
        """The raw generation for a request (constrained to its plan grammar unless built unconstrained)."""
        prompt = self.prompt(request, devices)
        if not self._constrained:
            return await self.engine.generate(prompt, None, timeout_s=self._timeout_s)
        if self._schema_for is not None:
            return await self.engine.generate(prompt, self._schema_for(devices), timeout_s=self._timeout_s)
        return await self.engine.generate(prompt, None, grammar=self._grammar_for(devices), timeout_s=self._timeout_s)

    async def propose(self, request: PlanRequest, devices: list[Device], *, trace_id: str) -> Plan:
        """A plan over `devices`; raises PlannerError subclasses (timeout, overload, invalid output)."""
        result = await self.complete(request, devices)
        if result.finish_reason == "length":
            raise PlanValidationError(f"the plan did not finish within {result.tokens} tokens")
        return parse_plan(result.text)
