"""Plans from request to result: propose (planner + validation), store, run in the background, cancel."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from cloud.auth import Principal
from cloud.fleet import Caller, Device, Planner
from cloud.metrics import CloudMetrics
from cloud.store import EdgeRecord, PlanRecord, Store
from shared.envelope import utcnow
from shared.errors import (
    AutoGLMError,
    ConfirmationRequiredError,
    ConflictError,
    NotFoundError,
    PlannerUnavailableError,
)
from shared.plan import Plan, PlanRequest, PlanStatus

log = logging.getLogger(__name__)

#: States a plan can still be run from, and states that are final.
RUNNABLE = frozenset({PlanStatus.PROPOSED, PlanStatus.NEEDS_CONFIRMATION})
FINAL = frozenset({PlanStatus.SUCCEEDED, PlanStatus.FAILED, PlanStatus.CANCELLED})


class RunResult(Protocol):
    """What an executor answers: the final status and one entry per step."""

    @property
    def status(self) -> PlanStatus:
        """Final status of the run."""
        ...

    @property
    def steps(self) -> Sequence[Any]:
        """Per-step outcomes (pydantic models, dataclasses or dicts)."""
        ...


class PlanExecutor(Protocol):
    """Runs a validated task graph; device actions go to edges, every step to the audit log."""

    async def run(self, plan: Plan, devices: Mapping[str, Device], *, caller: Caller, trace_id: str,
                  confirmed: bool, cancel: asyncio.Event) -> RunResult:
        """Run until done, failed or `cancel` is set."""
        ...


ExecutorFactory = Callable[[], PlanExecutor]
Validator = Callable[..., list[str]]


class PlanStateError(ConflictError):
    """A plan asked to run or cancel in a state that does not allow it (HTTP 409)."""

    code = "plan_state_conflict"


class UnavailablePlanner:
    """Stands in for a planner that failed to open: /readyz says "unavailable", proposals answer 503."""

    model_name = None

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def status(self) -> str:
        """Always "unavailable"."""
        return "unavailable"

    async def propose(self, request: PlanRequest, devices: list[Device], *, trace_id: str) -> Plan:
        """Refuse with the reason the planner failed."""
        raise PlannerUnavailableError(f"the planner failed to start: {self.reason}")


def _step_json(step: Any) -> dict[str, Any]:
    if hasattr(step, "model_dump"):
        return dict(step.model_dump(mode="json"))
    if dataclasses.is_dataclass(step) and not isinstance(step, type):
        return dataclasses.asdict(step)
    return dict(step) if isinstance(step, Mapping) else {"value": str(step)}


def _default_validator() -> Validator:
    from cloud.planner.validate import validate_plan  # the planner package is optional at import time

    return validate_plan


class PlanService:
    """The API's view of plans; one instance per app."""

    def __init__(self, store: Store, metrics: CloudMetrics, *, planner: Planner | None = None,
                 executor_factory: ExecutorFactory | None = None, validator: Validator | None = None) -> None:
        self._store = store
        self._metrics = metrics
        self.planner = planner
        self.executor_factory = executor_factory
        self._validator = validator
        self._runs: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}

    async def _visible_plan(self, plan_id: str, principal: Principal) -> PlanRecord:
        record = await self._store.get_plan(plan_id)
        if record is None or not principal.sees_site(record.site) or (
                principal.edge_id is not None and record.edge_id != principal.edge_id):
            raise NotFoundError(f"plan {plan_id!r} not found")
        return record

    async def _devices(self, edge_id: str, principal: Principal) -> tuple[EdgeRecord, list[Device]]:
        edge = await self._store.get_edge(edge_id)
        if edge is None or not principal.sees_edge(edge):
            raise NotFoundError(f"edge {edge_id!r} not found")
        return edge, [d for d in await self._store.list_devices(edge_id=edge_id) if principal.sees_device(d)]

    async def propose(self, request: PlanRequest, principal: Principal, *, trace_id: str) -> PlanRecord:
        """Ask the planner, validate against the caller's devices and rights, store the plan."""
        started = time.perf_counter()
        try:
            edge, devices = await self._devices(request.edge_id, principal)
            if self.planner is None:
                raise PlannerUnavailableError("no planner is configured on this server (see OPEN_AUTOGLM_PLANNER__*)")
            plan = await self.planner.propose(request, devices, trace_id=trace_id)
            validate = self._validator or _default_validator()
            sensitive = list(validate(plan, devices, caller=principal.caller))
        except AutoGLMError as exc:
            self._metrics.plans.labels(exc.code).inc()
            raise
        self._metrics.plan_latency.observe(time.perf_counter() - started)
        self._metrics.plans.labels("proposed").inc()
        site = edge.site
        now = utcnow()
        record = PlanRecord(
            plan_id=uuid.uuid4().hex, edge_id=request.edge_id, site=site, text=request.text,
            language=request.language, plan=plan, trace_id=trace_id, created_by=principal.subject, created_ts=now,
            status=PlanStatus.NEEDS_CONFIRMATION if sensitive else PlanStatus.PROPOSED, sensitive_steps=sensitive,
            model=getattr(self.planner, "model_name", None), updated_ts=now)
        await self._store.add_plan(record)
        await self._store.record(actor=principal.subject, action="plan.create", target=f"plan:{record.plan_id}",
                                 trace_id=trace_id, detail={"site": site, "edge_id": request.edge_id,
                                                            "steps": len(plan.steps), "sensitive": sensitive})
        return record

    async def get(self, plan_id: str, principal: Principal) -> PlanRecord:
        """A plan the principal may see."""
        return await self._visible_plan(plan_id, principal)

    async def list_plans(self, principal: Principal, *, edge_id: str | None = None, status: PlanStatus | None = None,
                   limit: int = 100) -> list[PlanRecord]:
        """Recent plans the principal may see."""
        if principal.edge_id is not None:
            if edge_id not in (None, principal.edge_id):
                return []
            edge_id = principal.edge_id
        return await self._store.list_plans(sites=principal.sites, edge_id=edge_id, status=status, limit=limit)

    async def run(self, plan_id: str, principal: Principal, *, confirm: bool, trace_id: str) -> PlanRecord:
        """Start a plan in the background; sensitive plans need `confirm`."""
        record = await self._visible_plan(plan_id, principal)
        if record.status not in RUNNABLE or plan_id in self._runs:
            raise PlanStateError(f"plan {plan_id} is {record.status.value} and cannot be run")
        if record.sensitive_steps and not confirm:
            raise ConfirmationRequiredError(
                f"plan {plan_id} has sensitive steps ({', '.join(record.sensitive_steps)}): run it with "
                '{"confirm": true}', steps=record.sensitive_steps)
        if self.executor_factory is None:
            raise PlannerUnavailableError("no plan executor is configured on this server")
        devices = {d.device_id: d for d in await self._store.list_devices(edge_id=record.edge_id)
                   if principal.sees_device(d)}
        executor = self.executor_factory()
        record = await self._store.update_plan(plan_id, status=PlanStatus.RUNNING)
        await self._store.record(actor=principal.subject, action="plan.run", target=f"plan:{plan_id}",
                                 trace_id=record.trace_id, detail={"site": record.site, "confirmed": confirm,
                                                                   "request_trace_id": trace_id})
        cancel = asyncio.Event()
        task = asyncio.create_task(self._execute(executor, record, devices, principal.caller, confirm, cancel))
        self._runs[plan_id] = (task, cancel)
        self._metrics.plans_running.inc()
        return record

    async def _execute(self, executor: PlanExecutor, record: PlanRecord, devices: Mapping[str, Device],
                       caller: Caller, confirmed: bool, cancel: asyncio.Event) -> None:
        status, steps, error = PlanStatus.FAILED, None, None
        try:
            result = await executor.run(record.plan, devices, caller=caller, trace_id=record.trace_id,
                                        confirmed=confirmed, cancel=cancel)
            status, steps = PlanStatus(result.status), [_step_json(s) for s in result.steps]
        except asyncio.CancelledError:
            status, error = PlanStatus.CANCELLED, "server shutting down"
            raise
        except AutoGLMError as exc:
            error = f"{exc.code}: {exc}"
        except Exception as exc:  # the executor is a plug-in; its bugs must not leave a plan "running" forever
            log.exception("plan executor crashed", extra={"trace_id": record.trace_id, "plan_id": record.plan_id})
            error = f"internal_error: {type(exc).__name__}: {exc}"
        finally:
            self._runs.pop(record.plan_id, None)
            self._metrics.plans_running.dec()
            self._metrics.plan_runs.labels(status.value).inc()
            with contextlib.suppress(AutoGLMError):
                await asyncio.shield(self._finish(record, status, steps, error))

    async def _finish(self, record: PlanRecord, status: PlanStatus, steps: list[dict[str, Any]] | None,
                      error: str | None) -> None:
        await self._store.update_plan(record.plan_id, status=status, result=steps, error=error)
        await self._store.record(actor="executor", action=f"plan.{status.value}", target=f"plan:{record.plan_id}",
                                 trace_id=record.trace_id, detail={"site": record.site, "error": error})

    async def cancel(self, plan_id: str, principal: Principal, *, trace_id: str) -> PlanRecord:
        """Cancel a proposed or running plan; cancelling a cancelled plan is a no-op."""
        record = await self._visible_plan(plan_id, principal)
        if record.status is PlanStatus.CANCELLED:
            return record
        if record.status in FINAL:
            raise PlanStateError(f"plan {plan_id} already {record.status.value}")
        await self._store.record(actor=principal.subject, action="plan.cancel", target=f"plan:{plan_id}",
                                 trace_id=record.trace_id, detail={"site": record.site, "request_trace_id": trace_id})
        run = self._runs.get(plan_id)
        if run is None:
            return await self._store.update_plan(plan_id, status=PlanStatus.CANCELLED)
        task, event = run
        event.set()
        done, _ = await asyncio.wait({task}, timeout=5.0)
        if not done:  # an executor that ignores its cancel event is stopped the hard way
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return await self._visible_plan(plan_id, principal)

    async def wait_idle(self) -> None:
        """Wait for every running plan to finish (tests and shutdown)."""
        while self._runs:
            await asyncio.gather(*(t for t, _ in list(self._runs.values())), return_exceptions=True)

    async def shutdown(self) -> None:
        """Cancel running plans; each is stored as cancelled."""
        for task, event in list(self._runs.values()):
            event.set()
            task.cancel()
        await self.wait_idle()
