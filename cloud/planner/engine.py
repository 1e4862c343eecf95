"""The planner engine loop: joins the batching policy (scheduler) and the model (runner); callers await futures.

`schedule() -> run batch on a worker thread -> resolve futures`, as vLLM's engine core does. Each caller waits
for its own deadline, so a hung model call ends in `PlannerTimeoutError` for its requests; the loop watches each
batch too and, past the batch's latest deadline, abandons it (the runner is asked to stop) and serves the next
one on another worker thread. Too many abandoned batches still running make the engine `unavailable`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cloud.planner.batch import BatchRunner, FinishReason, GenerationOutput, GenerationRequest
from cloud.planner.scheduler import BatchPolicy, Scheduler, Ticket
from shared.errors import PlannerError, PlannerOverloadedError, PlannerTimeoutError, PlannerUnavailableError

log = logging.getLogger(__name__)

EngineStatus = Literal["lazy", "loading", "loaded", "unavailable"]
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """One completed request: the text, its token count and timings in seconds."""

    text: str
    tokens: int
    finish_reason: FinishReason
    queue_s: float
    first_token_s: float
    latency_s: float
    batch_size: int


@dataclass(eq=False, slots=True)
class _Job:
    request: GenerationRequest
    future: asyncio.Future[GenerationResult]
    started: float = 0.0


class _Metrics:
    """The engine's prometheus metrics on an injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.queue_depth = Gauge("autoglm_planner_queue_depth", "Requests waiting for a batch", registry=registry)
        self.queue_capacity = Gauge("autoglm_planner_queue_capacity",
                                    "Requests the queue holds before it answers 429 (planner.max_queue)",
                                    registry=registry)
        self.batch_size = Histogram("autoglm_planner_batch_size", "Requests per model batch",
                                    buckets=_BATCH_BUCKETS, registry=registry)
        self.tokens_per_second = Gauge("autoglm_planner_tokens_per_second",
                                       "Generated tokens per second of the last batch", registry=registry)
        self.time_to_first_token = Histogram("autoglm_planner_time_to_first_token_seconds",
                                             "From arrival to the first generated token", registry=registry)
        self.tokens = Counter("autoglm_planner_generated_tokens", "Generated tokens", registry=registry)
        self.requests = Counter("autoglm_planner_requests", "Finished requests by outcome", ["outcome"],
                                registry=registry)
        self.rejections = Counter("autoglm_planner_rejections", "Requests refused at the door", ["reason"],
                                  registry=registry)


class PlannerEngine:
    """Dynamic-batching generation over one model runner, loaded at start or (lazy) on first use."""

    def __init__(self, load: Callable[[], BatchRunner], *, policy: BatchPolicy | None = None,
                 lazy_load: bool = False, request_timeout_s: float = 30.0, max_new_tokens: int = 256,
                 registry: CollectorRegistry | None = None, watchdog_grace_s: float = 1.0,
                 max_stuck_batches: int = 2, clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._scheduler: Scheduler[_Job] = Scheduler(policy)
        self._lazy = lazy_load
        self._timeout_s = request_timeout_s
        self._max_new_tokens = max_new_tokens
        self._grace_s = watchdog_grace_s
        self._max_stuck = max_stuck_batches
        self._clock = clock
        self._metrics = _Metrics(registry if registry is not None else CollectorRegistry())
        self._metrics.queue_capacity.set(self._scheduler.policy.max_queue)
        self._runner: BatchRunner | None = None
        self._state: EngineStatus = "lazy"
        self._load_error: str | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._running: Sequence[Ticket[_Job]] = ()
        self._stuck: set[asyncio.Future[list[GenerationOutput]]] = set()
        self._pool = ThreadPoolExecutor(max_workers=max_stuck_batches + 1, thread_name_prefix="planner-batch")

    @property
    def policy(self) -> BatchPolicy:
        """The batching policy in force."""
        return self._scheduler.policy

    def status(self) -> EngineStatus:
        """"lazy" (not loaded yet), "loading", "loaded" or "unavailable" (load failed, closed or wedged)."""
        if self._state == "loaded" and len(self._stuck) >= self._max_stuck:
            return "unavailable"
        return self._state

    async def start(self) -> None:
        """Start the loop; load the model now unless lazy (a failed load leaves the engine unavailable)."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._serve(), name="planner-engine")
        if not self._lazy:
            try:
                await self._ensure_loaded()
            except PlannerUnavailableError:
                pass  # logged by _load_model; status() says "unavailable" and requests get 503

    async def aclose(self) -> None:
        """Stop the loop and fail whatever still waits."""
        self._state = "unavailable"
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        for ticket in [*self._running, *self._scheduler.drain()]:
            self._fail(ticket.payload, PlannerUnavailableError("planner engine stopped"), "error")
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> PlannerEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def generate(self, prompt: str, schema: dict[str, Any] | None, *, grammar: str | None = None,
                       timeout_s: float | None = None, max_new_tokens: int | None = None) -> GenerationResult:
        """Complete `prompt` (constrained by `schema` or an EBNF `grammar` if given) within `timeout_s` of queueing."""
        if self._loop_task is None:
            raise PlannerUnavailableError("planner engine not started")
        await self._ensure_loaded()
        if self.status() == "unavailable":
            self._metrics.rejections.labels("unavailable").inc()
            raise PlannerUnavailableError("planner model is wedged: earlier batches still hang; try again later")
        timeout = self._timeout_s if timeout_s is None else timeout_s
        schema_text = None if schema is None else json.dumps(schema, ensure_ascii=False)  # keeps key order
        request = GenerationRequest(prompt, schema_text, max_new_tokens or self._max_new_tokens, grammar)
        job = _Job(request, asyncio.get_running_loop().create_future())
        now = self._clock()
        try:
            ticket = self._scheduler.add(job, now=now, deadline=now + timeout)
        except PlannerOverloadedError:
            self._metrics.rejections.labels("overloaded").inc()
            raise
        self._metrics.queue_depth.set(self._scheduler.depth)
        self._wake.set()
        try:
            return await asyncio.wait_for(job.future, timeout)  # cancels job.future on timeout
        except TimeoutError:
            self._scheduler.cancel(ticket)
            self._finish(job, "timeout")
            raise PlannerTimeoutError(f"no plan within {timeout:g} s") from None
        except asyncio.CancelledError:
            self._scheduler.cancel(ticket)
            self._finish(job, "cancelled")
            raise

    async def _ensure_loaded(self) -> None:
        if self._state == "loaded":
            return
        if self._state == "unavailable":
            self._metrics.rejections.labels("unavailable").inc()
            raise PlannerUnavailableError(f"planner model unavailable: {self._load_error or 'engine stopped'}")
        if self._load_task is None:
            self._state = "loading"
            self._load_task = asyncio.create_task(self._load_model(), name="planner-load")
        await asyncio.shield(self._load_task)
        if self._runner is None:
            raise PlannerUnavailableError(f"planner model unavailable: {self._load_error}")

    async def _load_model(self) -> None:
        started = time.perf_counter()
        try:
            self._runner = await asyncio.to_thread(self._load)
        except Exception as exc:  # any load failure makes the planner unavailable, with the reason kept
            self._load_error = f"{type(exc).__name__}: {exc}"
            self._state = "unavailable"
            log.error("planner model failed to load", extra={"error": self._load_error})
            return
        self._state = "loaded"
        log.info("planner model loaded", extra={"seconds": round(time.perf_counter() - started, 3)})

    async def _serve(self) -> None:
        while True:
            now = self._clock()
            decided = self._scheduler.schedule(now)
            for ticket in decided.expired:
                self._fail(ticket.payload, PlannerTimeoutError("deadline passed while queued"), "timeout")
            self._metrics.queue_depth.set(self._scheduler.depth)
            if decided.batch and self._runner is not None:
                await self._run(decided.batch)
                continue
            due = self._scheduler.next_due(now)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), None if due is None else max(due - now, 0.0005))
            except TimeoutError:
                pass

    async def _run(self, batch: Sequence[Ticket[_Job]]) -> None:
        runner = self._runner
        assert runner is not None  # _serve only runs batches once loaded
        started = self._clock()
        abandoned = False

        def should_stop(row: int) -> bool:
            return abandoned or batch[row].cancelled

        for ticket in batch:
            ticket.payload.started = started
        self._running = batch
        self._metrics.batch_size.observe(len(batch))
        call = asyncio.get_running_loop().run_in_executor(
            self._pool, lambda: runner.generate([t.payload.request for t in batch], should_stop=should_stop))
        deadlines = [t.deadline for t in batch if t.deadline is not None]
        watchdog = max(deadlines) - started + self._grace_s if deadlines else None
        done, _ = await asyncio.wait({call}, timeout=watchdog)
        self._running = ()
        if not done:
            abandoned = True
            self._stuck.add(call)
            call.add_done_callback(self._stuck.discard)
            log.error("planner batch exceeded its deadline; abandoned", extra={"batch_size": len(batch)})
            for ticket in batch:
                self._fail(ticket.payload, PlannerTimeoutError("the model call exceeded the deadline"), "timeout")
            return
        try:
            outputs = call.result()
        except Exception as exc:  # a model error fails this batch only; the loop keeps serving
            log.exception("planner batch failed", extra={"batch_size": len(batch)})
            for ticket in batch:
                self._fail(ticket.payload, PlannerError(f"model call failed: {type(exc).__name__}: {exc}"), "error")
            return
        elapsed = max(self._clock() - started, 1e-9)
        total = sum(out.tokens for out in outputs)
        self._metrics.tokens.inc(total)
        self._metrics.tokens_per_second.set(total / elapsed)
        for ticket, out in zip(batch, outputs, strict=True):
            job = ticket.payload
            queue_s = job.started - ticket.arrived
            result = GenerationResult(out.text, out.tokens, out.finish_reason, queue_s,
                                      queue_s + out.first_token_s, elapsed + queue_s, len(batch))
            if not job.future.done():
                self._metrics.time_to_first_token.observe(result.first_token_s)
                job.future.set_result(result)
                self._finish(job, "ok")

    def _fail(self, job: _Job, error: PlannerError, outcome: str) -> None:
        if not job.future.done():
            job.future.set_exception(error)
            self._finish(job, outcome)

    def _finish(self, job: _Job, outcome: str) -> None:
        self._metrics.requests.labels(outcome).inc()
