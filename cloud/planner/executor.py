"""Runs a validated task graph: independent steps concurrently, outputs feeding later args, every step audited."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloud.fleet import AuditSink, Caller, Device, EdgeCommander, Notifier
from cloud.planner.catalogue import ToolSpec, is_device_action, tools_for
from cloud.planner.conform import check
from cloud.planner.validate import topological_order, validate_plan
from shared.actions import compare as compare_values
from shared.errors import AutoGLMError, ConfirmationRequiredError
from shared.plan import Plan, PlanStatus, PlanStep, Tool
from shared.refs import resolve, state_output


@dataclass
class StepResult:
    """What one step did: "succeeded", "failed", "skipped" or "cancelled", its output, and why it did not succeed."""

    id: str
    status: str
    output: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class RunResult:
    """The outcome of a plan run, with one result per step in plan order."""

    status: PlanStatus
    steps: list[StepResult]


class StepFailedError(AutoGLMError):
    """A step that could not do its work (bad resolved arg, incomparable values)."""

    code = "step_failed"


@dataclass
class _Run:
    plan: Plan
    devices: Mapping[str, Device]
    caller: Caller
    trace_id: str
    catalogue: dict[str, ToolSpec]
    results: dict[str, StepResult] = field(default_factory=dict)
    done: dict[str, asyncio.Event] = field(default_factory=dict)
    cancelled: bool = False


def compare(left: Any, op: str, right: Any) -> bool:
    """A condition (`shared.actions.compare`); StepFailedError when the values cannot be compared."""
    try:
        return compare_values(left, op, right)
    except ValueError as exc:
        raise StepFailedError(str(exc)) from None


class Executor:
    """Runs plans against the fleet through the ports; the composition root gives it the real adapters.

    `validator` checks every plan before it runs (`validate_plan`; the reliability suite's negative control swaps it).
    """

    def __init__(self, commander: EdgeCommander, audit: AuditSink, notifier: Notifier, *,
                 step_timeout_s: float = 30.0, clock: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 validator: Callable[..., list[str]] = validate_plan) -> None:
        self._commander = commander
        self._validate = validator
        self._audit = audit
        self._notifier = notifier
        self._step_timeout_s = step_timeout_s
        self._clock = clock

    async def run(self, plan: Plan, devices: Mapping[str, Device], *, caller: Caller, trace_id: str,
                  confirmed: bool = False, cancel: asyncio.Event | None = None) -> RunResult:
        """Validate and run a plan; sensitive plans need confirmed=True (else ConfirmationRequiredError)."""
        sensitive = self._validate(plan, list(devices.values()), caller=caller)
        if sensitive and not confirmed:
            await self._audit.record(actor=caller.subject, action="plan.refused", target="plan", trace_id=trace_id,
                                     detail={"reason": "confirmation_required", "steps": sensitive})
            raise ConfirmationRequiredError(
                f"the plan has sensitive steps ({', '.join(sensitive)}); run it again with confirmation",
                steps=sensitive)
        catalogue = {tool.name: tool for tool in tools_for(list(devices.values()))}
        run = _Run(plan, devices, caller, trace_id, catalogue, done={step.id: asyncio.Event() for step in plan.steps})
        await self._audit.record(actor=caller.subject, action="plan.started", target="plan", trace_id=trace_id,
                                 detail={"steps": len(plan.steps), "confirmed": confirmed})
        tasks: dict[str, asyncio.Task[None]] = {}
        async with asyncio.TaskGroup() as group:
            for step in topological_order(plan):
                tasks[step.id] = group.create_task(self._step(run, step))
            if cancel is not None:
                group.create_task(self._cancel_on(cancel, run, tasks))
        status = self._status(run)
        await self._audit.record(actor=caller.subject, action=f"plan.{status.value}", target="plan",
                                 trace_id=trace_id, detail={"steps": {s: r.status for s, r in run.results.items()}})
        return RunResult(status, [run.results[step.id] for step in plan.steps])

    @staticmethod
    def _status(run: _Run) -> PlanStatus:
        statuses = {result.status for result in run.results.values()}
        if run.cancelled and "cancelled" in statuses:
            return PlanStatus.CANCELLED
        return PlanStatus.FAILED if "failed" in statuses else PlanStatus.SUCCEEDED

    async def _cancel_on(self, cancel: asyncio.Event, run: _Run, tasks: Mapping[str, asyncio.Task[None]]) -> None:
        """Cancel the unfinished steps when `cancel` is set; return once every step has finished."""
        everything: asyncio.Future[Any] = asyncio.gather(*(run.done[step_id].wait() for step_id in tasks))
        asked: asyncio.Future[Any] = asyncio.ensure_future(cancel.wait())
        try:
            await asyncio.wait({everything, asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            everything.cancel()
            asked.cancel()
        if cancel.is_set():
            run.cancelled = True
            for step_id, task in tasks.items():
                if not run.done[step_id].is_set():  # a finished step keeps its result and its audit entry
                    task.cancel()

    async def _step(self, run: _Run, step: PlanStep) -> None:
        try:
            for before in step.after:
                await run.done[before].wait()
            blocked = self._blocked_by(run, step)
            if blocked is not None:
                await self._finish(run, step, StepResult(step.id, "skipped", error=blocked))
                return
            await self._audit_step(run, step, "started", {})
            result = await self._execute(run, step)
        except asyncio.CancelledError:
            if not run.cancelled:
                raise  # the whole run is being cancelled from outside: let it unwind
            result = StepResult(step.id, "cancelled", error="the run was cancelled")
        await self._finish(run, step, result)

    @staticmethod
    def _blocked_by(run: _Run, step: PlanStep) -> str | None:
        for before in step.after:
            earlier = run.results[before]
            if earlier.status != "succeeded":
                return f"{before} {earlier.status}"
            tool = next(s.tool for s in run.plan.steps if s.id == before)
            if tool == Tool.CONDITION.value and earlier.output.get("value") is False:
                return f"condition {before} is false"
        return None

    async def _execute(self, run: _Run, step: PlanStep) -> StepResult:
        try:
            args = resolve(step.tool, step.args, {sid: r.output for sid, r in run.results.items()})
            error = check(args, run.catalogue[step.tool].args, "args")
            if error:
                raise StepFailedError(f"after resolving references: {error}")
            if step.tool == Tool.WAIT.value:
                # A wait is as long as the plan says, not bounded by the step timeout.
                output = await self._call(run, step, args)
            else:
                async with asyncio.timeout(self._step_timeout_s):
                    output = await self._call(run, step, args)
        except TimeoutError:
            return StepResult(step.id, "failed", error=f"timed out after {self._step_timeout_s:g} s")
        except AutoGLMError as exc:
            return StepResult(step.id, "failed", error=f"{exc.code}: {exc}")
        except Exception as exc:  # an adapter bug must not leave the run without an end or an audit entry
            return StepResult(step.id, "failed", error=f"{type(exc).__name__}: {exc}")
        return StepResult(step.id, "succeeded", output=output)

    async def _call(self, run: _Run, step: PlanStep, args: dict[str, Any]) -> dict[str, Any]:
        if is_device_action(step.tool):
            device = run.devices[args["device_id"]]
            service = step.tool.split(".", 1)[1]
            rest = {name: value for name, value in args.items() if name != "device_id"}
            state = await self._commander.act(device, service, rest, trace_id=run.trace_id,
                                              timeout_s=self._step_timeout_s)
            return state_output(state)
        if step.tool == Tool.GET_STATE.value:
            return state_output(await self._commander.state(run.devices[args["device_id"]]))
        if step.tool == Tool.WAIT.value:
            await self._clock(float(args["seconds"]))
            return {}
        if step.tool == Tool.NOTIFY.value:
            await self._notifier.notify(args["message"], trace_id=run.trace_id)
            return {}
        return {"value": compare(args["left"], args["op"], args["right"])}

    async def _finish(self, run: _Run, step: PlanStep, result: StepResult) -> None:
        run.results[step.id] = result
        run.done[step.id].set()
        detail: dict[str, Any] = {"output": result.output} if result.status == "succeeded" else {"error": result.error}
        await self._audit_step(run, step, result.status, detail)

    async def _audit_step(self, run: _Run, step: PlanStep, status: str, detail: dict[str, Any]) -> None:
        device_id = step.args.get("device_id")
        target = device_id if isinstance(device_id, str) else step.tool
        await self._audit.record(actor=run.caller.subject, action=f"plan.step.{status}", target=target,
                                 trace_id=run.trace_id,
                                 detail={"step": step.id, "tool": step.tool, "args": step.args, **detail})
