"""Runs a cloud plan at the edge: how a cached plan keeps a repeated complex request working while the cloud is away.

Steps run in their listed order (a validated plan lists a step after the steps it waits for): device actions
become the same twin changes the cloud's executor would ask for (`shared.actions.translate`) and go to the device
through the edge's executor, confirmed by its reported state; `get_state` reads the twin, `condition` compares,
`wait` sleeps (bounded), `notify` becomes an event. A false condition skips the steps that depend on it.
A cached plan is replayed for whoever repeats its words, so its sensitive steps (the cloud's own rule,
`shared.confirmation`) need a confirmation here again: `run` refuses them unless `confirmed`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from edge.devices.desired import desired_commands
from edge.devices.entity import Command
from edge.devices.executor import Executor
from edge.devices.registry import Registry
from edge.devices.twins import Twins
from shared.actions import compare, translate
from shared.confirmation import sensitive_steps
from shared.decision import DeviceAction, Outcome
from shared.errors import AutoGLMError, ConfirmationRequiredError
from shared.plan import Plan, PlanStep, Tool
from shared.refs import resolve, state_output

Notify = Callable[[str, str], Awaitable[None]]  # (message, trace_id)


class LocalPlanRunner:
    """Executes plans with the edge's own parts; never raises for a failing step (it is reported)."""

    def __init__(self, registry: Registry, twins: Twins, executor: Executor, notify: Notify, *,
                 max_wait_s: float = 600.0) -> None:
        self._registry = registry
        self._twins = twins
        self._executor = executor
        self._notify = notify
        self._max_wait_s = max_wait_s

    def sensitive(self, plan: Plan) -> list[str]:
        """The ids of the plan's steps that need the user's confirmation (unlock, disarm, open a garage, bulk)."""
        def device_class(device_id: str) -> str | None:
            entity = self._registry.get(device_id)
            return entity.config.device_class if entity is not None else None

        return sensitive_steps(plan, device_class)

    async def run(self, plan: Plan, *, trace_id: str, confirmed: bool = False) -> list[DeviceAction]:
        """Run every step; the device actions with their confirmed outcomes. ConfirmationRequiredError (nothing
        runs) when the plan has sensitive steps and the user has not confirmed it."""
        if not confirmed and (held := self.sensitive(plan)):
            raise ConfirmationRequiredError(f"the plan has sensitive steps ({', '.join(held)}): it runs only once "
                                            "the user confirms it", steps=held)
        outputs: dict[str, dict[str, Any]] = {}
        skipped: set[str] = set()
        actions: list[DeviceAction] = []
        for step in plan.steps:
            if skipped & set(step.after):
                skipped.add(step.id)
                continue
            try:
                args = resolve(step.tool, step.args, outputs)
                outputs[step.id] = await self._step(step, args, trace_id, actions)
            except (AutoGLMError, ValueError, KeyError) as exc:
                actions.append(DeviceAction(device_id=str(step.args.get("device_id", "")), name=step.tool,
                                            domain=step.tool.split(".")[0], command={"name": step.tool},
                                            outcome=Outcome.ERROR, detail=str(exc)))
                skipped.add(step.id)  # what depends on a failed step does not run
                continue
            if step.tool == Tool.CONDITION and outputs[step.id].get("value") is False:
                skipped.add(step.id)
        return actions

    async def _step(self, step: PlanStep, args: dict[str, Any], trace_id: str,
                    actions: list[DeviceAction]) -> dict[str, Any]:
        if step.tool == Tool.WAIT:
            await asyncio.sleep(min(float(args.get("seconds", 0)), self._max_wait_s))
            return {}
        if step.tool == Tool.NOTIFY:
            await self._notify(str(args.get("message", "")), trace_id)
            return {}
        if step.tool == Tool.CONDITION:
            return {"value": compare(args["left"], str(args["op"]), args["right"])}
        entity = self._registry.get(str(args.get("device_id", "")))
        if entity is None:
            raise KeyError(f"{args.get('device_id')!r} is not a device of this edge any more")
        reported = self._twins.values(entity.device_id)
        if step.tool == Tool.GET_STATE:
            return state_output(reported)
        change = translate(entity.domain, entity.device_id, entity.name, step.tool, args, reported)
        commands = ([Command(change.command.command, change.command.value)] if change.command is not None
                    else desired_commands(entity, change.desired, reported))
        for command in commands:
            actions.append(await self._executor.run(entity, command, trace_id=trace_id))
        return {}
