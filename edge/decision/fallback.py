"""What the edge cannot serve locally goes to the cloud planner; with the cloud gone, a clear answer at once.

The cloud proposes a plan (`POST /v1/plan`) and runs it (`POST /v1/plans/{id}/run`): its executor sends the
device commands back to this edge over the command path, so they are confirmed like any other command. Every call
goes through the cloud client's circuit breaker; while it is open or half-open, the answer is immediate and a
background probe (`GET /healthz`) finds out when the cloud is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from edge.decision.replies import render
from edge.ports import CloudError, CloudPlanner, CloudRejectedError, CloudUnavailableError, MessageQueue, PlanMemory
from shared.confirmation import plan_digest
from shared.decision import DecisionSource, Outcome, Utterance
from shared.errors import PayloadError
from shared.plan import Plan, PlanStatus

log = logging.getLogger(__name__)


class _Queued(BaseModel):
    """A request kept for when the cloud is back."""

    utterance: Utterance
    language: str
    expires: float  # wall-clock seconds: the queue outlives restarts


@dataclass(frozen=True, slots=True)
class CloudAnswer:
    """What the fallback decided, for the decision record."""

    outcome: Outcome
    source: DecisionSource
    reply: str
    plan_id: str | None = None
    model: str | None = None
    error: str | None = None
    plan: Plan | None = None  # the plan the cloud made (cached for offline replay), or the cached one to replay
    replayed: bool = False  # the cloud is away: run `plan`, cached from an earlier answer, at the edge


class Fallback:
    """Asks the cloud, and turns every way that can fail into an answer.

    With a `queue` (the "queue" offline policy), a request that finds the cloud unreachable is kept there, with
    its expiry, and `drain()` runs it once the cloud answers again.
    """

    def __init__(self, cloud: CloudPlanner, *, queue: MessageQueue | None = None, expiry_s: float = 900.0,
                 clock: Callable[[], float] = time.time, plans: PlanMemory | None = None) -> None:
        self._cloud = cloud
        self._plans = plans
        self._probing: asyncio.Task[None] | None = None
        self._queue = queue
        self._expiry_s = expiry_s
        self._clock = clock

    async def ask(self, text: str, language: str, trace_id: str, *, confirmed: bool,
                  utterance: Utterance | None = None) -> CloudAnswer:
        """Plan and run `text` in the cloud; never raises for a cloud that is down, slow or refusing."""
        answer = await self._ask(text, language, trace_id, confirmed=confirmed)
        if self._plans is not None and answer.outcome is Outcome.PLANNED and answer.plan is not None:
            await self._plans.remember(text, language, answer.plan)
        if self._plans is not None and answer.outcome is Outcome.CLOUD_UNAVAILABLE:
            cached = await self._plans.recall(text, language)
            if cached is not None:  # the cloud planned this before: the edge runs that plan itself
                return CloudAnswer(Outcome.PLANNED, DecisionSource.CACHE, render(language, "cloud_replayed"),
                                   error=answer.error, plan=cached, replayed=True)
        if answer.outcome is Outcome.CLOUD_UNAVAILABLE and self._queue is not None and utterance is not None:
            held = _Queued(utterance=utterance, language=language, expires=self._clock() + self._expiry_s)
            await asyncio.to_thread(self._queue.put, "cloud-request", held.model_dump_json().encode())
            return CloudAnswer(Outcome.QUEUED, DecisionSource.DEGRADED,
                               render(language, "cloud_queued", text=text, minutes=self._expiry_s / 60),
                               error=answer.error)
        return answer

    async def drain(self) -> list[tuple[Utterance, CloudAnswer]]:
        """Run queued requests in order while the cloud answers; expired ones end with an `expired` answer."""
        if self._queue is None:
            return []
        if not self._cloud.ready:  # nobody may be asking: probe here too, or a half-open breaker never closes
            if len(self._queue):
                self._probe_soon()
            return []
        done: list[tuple[Utterance, CloudAnswer]] = []
        for pending in await asyncio.to_thread(self._queue.peek, 50):
            try:
                held = _Queued.model_validate_json(pending.payload)
            except ValueError:  # a damaged row: it can never run, so it must not block the rest
                await asyncio.to_thread(self._queue.ack, pending.seq)
                continue
            u, language = held.utterance, held.language
            if held.expires <= self._clock():
                answer = CloudAnswer(Outcome.CLOUD_UNAVAILABLE, DecisionSource.DEGRADED,
                                     render(language, "cloud_expired", text=u.text), error="expired in the queue")
            else:
                answer = await self._ask(u.text, language, u.trace_id, confirmed=u.confirmed)
                if answer.outcome is Outcome.CLOUD_UNAVAILABLE:
                    break  # still away: keep it and everything after it, in order
            await asyncio.to_thread(self._queue.ack, pending.seq)
            done.append((u, answer))
        return done

    def close(self) -> None:
        """Close the queue's database (queued requests stay in it for the next start)."""
        if self._queue is not None:
            self._queue.close()

    async def _ask(self, text: str, language: str, trace_id: str, *, confirmed: bool) -> CloudAnswer:
        if not self._cloud.ready:  # answer now; a probe in the background finds out when the cloud is back
            self._probe_soon()
            closed = CloudUnavailableError("the cloud breaker is open", retry_after_s=0)
            return self._unreachable(text, language, closed)
        try:
            proposal = await self._cloud.plan(text, language=language, trace_id=trace_id)
            if not proposal.plan.steps:
                return CloudAnswer(Outcome.NOT_UNDERSTOOD, DecisionSource.CLOUD,
                                   render(language, "not_understood", text=text), proposal.plan_id, proposal.model)
            steps = len(proposal.plan.steps)
            if proposal.status is PlanStatus.NEEDS_CONFIRMATION and not confirmed:
                summary = ", ".join(s.tool for s in proposal.plan.steps if s.id in proposal.sensitive_steps)
                return CloudAnswer(Outcome.NEEDS_CONFIRMATION, DecisionSource.CLOUD,
                                   render(language, "needs_confirmation", summary=summary), proposal.plan_id,
                                   proposal.model, plan=proposal.plan)  # the plan a confirmation goes ahead with
            status = await self._cloud.run(proposal.plan_id, confirm=confirmed, trace_id=trace_id)
        except CloudRejectedError as exc:
            if exc.retryable:  # busy or broken: the same as unreachable for the user
                return self._unreachable(text, language, exc)
            log.info("the cloud refused a request", extra={"trace_id": trace_id, "error": str(exc)})
            return CloudAnswer(Outcome.NOT_UNDERSTOOD, DecisionSource.CLOUD,
                               render(language, "cloud_refused", text=text), error=str(exc))
        except (CloudError, PayloadError) as exc:
            return self._unreachable(text, language, exc)
        outcome = Outcome.PLANNED if status in (PlanStatus.RUNNING, PlanStatus.SUCCEEDED) else Outcome.ERROR
        key = "cloud_planned" if outcome is Outcome.PLANNED else "cloud_plan_failed"
        return CloudAnswer(outcome, DecisionSource.CLOUD, render(language, key, steps=steps, status=status.value),
                           proposal.plan_id, proposal.model, plan=proposal.plan)

    async def run_held(self, plan_id: str, digest: str | None, text: str, language: str, trace_id: str
                       ) -> CloudAnswer:
        """Run, confirmed, exactly the cloud plan the user was shown (`plan_id`, whose steps had `digest`): never a
        new proposal, and nothing when the cloud's copy is no longer that plan."""
        if not self._cloud.ready:
            self._probe_soon()
            closed = CloudUnavailableError("the cloud breaker is open", retry_after_s=0)
            return self._unreachable(text, language, closed)
        try:
            held = await self._cloud.plan_of(plan_id, trace_id=trace_id)
            if digest is None or plan_digest(held.plan) != digest or held.plan_id != plan_id:
                log.warning("confirmed plan changed", extra={"trace_id": trace_id, "plan_id": plan_id})
                return CloudAnswer(Outcome.REJECTED, DecisionSource.CLOUD, render(language, "confirmation_changed"),
                                   plan_id, held.model, error="the plan is not the one that was confirmed")
            status = await self._cloud.run(plan_id, confirm=True, trace_id=trace_id)
        except CloudRejectedError as exc:
            if exc.retryable:
                return self._unreachable(text, language, exc)
            return CloudAnswer(Outcome.REJECTED, DecisionSource.CLOUD, render(language, "confirmation_refused",
                                                                              reason=str(exc)), plan_id, error=str(exc))
        except (CloudError, PayloadError) as exc:
            return self._unreachable(text, language, exc)
        outcome = Outcome.PLANNED if status in (PlanStatus.RUNNING, PlanStatus.SUCCEEDED) else Outcome.ERROR
        key = "cloud_planned" if outcome is Outcome.PLANNED else "cloud_plan_failed"
        return CloudAnswer(outcome, DecisionSource.CLOUD, render(language, key, steps=len(held.plan.steps),
                                                                 status=status.value), plan_id, held.model,
                           plan=held.plan)

    def _probe_soon(self) -> None:
        if self._probing is not None and not self._probing.done():
            return

        async def probe() -> None:
            with contextlib.suppress(CloudError):
                await self._cloud.probe()

        self._probing = asyncio.get_running_loop().create_task(probe())

    @staticmethod
    def _unreachable(text: str, language: str, exc: Exception) -> CloudAnswer:
        log.warning("cloud fallback failed", extra={"error": str(exc)})
        return CloudAnswer(Outcome.CLOUD_UNAVAILABLE, DecisionSource.DEGRADED,
                           render(language, "cloud_unavailable", text=text), error=str(exc))
