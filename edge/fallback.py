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
from dataclasses import dataclass
from typing import Protocol

from edge.cloud_client import CloudError, CloudRejectedError, CloudUnavailableError
from edge.replies import render
from shared.decision import DecisionSource, Outcome
from shared.errors import PayloadError
from shared.plan import PlanResponse, PlanStatus

log = logging.getLogger(__name__)


class CloudPlanner(Protocol):
    """The cloud as the edge's fallback sees it (CloudClient in production)."""

    async def plan(self, text: str, *, language: str = "en", trace_id: str | None = None) -> PlanResponse:
        """A validated plan for `text` over this edge's devices."""
        ...

    async def run(self, plan_id: str, *, confirm: bool = False, trace_id: str | None = None) -> PlanStatus:
        """Start a proposed plan; sensitive plans need `confirm`."""
        ...

    @property
    def ready(self) -> bool:
        """False while the breaker is open or half-open: do not make a user wait for the cloud."""
        ...

    async def probe(self) -> None:
        """A cheap call that lets a half-open breaker close again."""
        ...


@dataclass(frozen=True, slots=True)
class CloudAnswer:
    """What the fallback decided, for the decision record."""

    outcome: Outcome
    source: DecisionSource
    reply: str
    plan_id: str | None = None
    model: str | None = None
    error: str | None = None


class Fallback:
    """Asks the cloud, and turns every way that can fail into an answer."""

    def __init__(self, cloud: CloudPlanner) -> None:
        self._cloud = cloud
        self._probing: asyncio.Task[None] | None = None

    async def ask(self, text: str, language: str, trace_id: str, *, confirmed: bool) -> CloudAnswer:
        """Plan and run `text` in the cloud; never raises for a cloud that is down, slow or refusing."""
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
                                   proposal.model)
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
                           proposal.plan_id, proposal.model)

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
