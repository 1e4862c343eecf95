"""The gate between understanding a request and acting on it, in one place.

Before the pipeline: a confirmation token is redeemed (the held request replays, confirmed) and the admission policy
routes, queues or sheds. Before any device moves: the behaviour monitor may limit or hold the plan, and a sensitive
plan needs a confirmation. After: the finished decision teaches the monitor, and a held one gets its single-use token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from edge.config import Action
from edge.decision.intents import Plan, display
from edge.decision.replies import action_phrase, render
from edge.guard.activity import ActionRef, ActivityEvent
from edge.guard.admission import Admission, ShedError
from edge.guard.confirmations import ConfirmationError, Confirmations
from edge.guard.monitor import Monitor
from edge.guard.policy import AdmissionPolicy, mentioned_domains
from shared.decision import Decision, Outcome, Utterance

log = logging.getLogger(__name__)

#: The pipeline, as the gate runs it: one utterance in, its decision out.
Run = Callable[[Utterance], Awaitable[Decision]]
#: Latencies of finished decisions, for the admission policy's p95 (SystemLoad.record_latency).
LatencySink = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a plan does not run now: limited (RATE_LIMITED) or held for a confirmation (NEEDS_CONFIRMATION)."""

    outcome: Outcome
    reply: str
    held_by: str | None = None


class Gate:
    """Admission and confirmation before a request, monitor and sensitivity before acting, bookkeeping after."""

    def __init__(self, edge_id: str, *, confirmations: Confirmations | None = None,
                 policy: AdmissionPolicy | None = None, admission: Admission | None = None,
                 monitor: Monitor | None = None, on_latency: LatencySink = lambda _ms: None) -> None:
        self._edge_id = edge_id
        self._confirmations = confirmations
        self.policy = policy
        self._admission = admission
        self._monitor = monitor
        self._on_latency = on_latency

    def check(self, plan: Plan, utterance: Utterance, source: str, language: str) -> Hold | None:
        """None when `plan` may run now; else why not. The one place a plan is stopped before devices move."""
        if self._monitor is not None and plan.actions:
            verdict = self._monitor.check(activity_of(plan, utterance, source))
            if verdict.action == "limit":
                return Hold(Outcome.RATE_LIMITED, render(language, "rate_limited", reason=verdict.reason),
                            verdict.rule)
            if verdict.action == "confirm" and not utterance.confirmed:
                return Hold(Outcome.NEEDS_CONFIRMATION, render(language, "held", reason=verdict.reason),
                            verdict.rule)
        if plan.sensitive and not utterance.confirmed:
            return Hold(Outcome.NEEDS_CONFIRMATION,
                        render(language, "needs_confirmation", summary=summary(language, plan)))
        return None

    async def decide(self, utterance: Utterance, run: Run) -> Decision:
        """Confirmation token, admission policy, `run` (the pipeline), behaviour monitor: one utterance's decision."""
        extra = {"trace_id": utterance.trace_id, "edge_id": self._edge_id}
        log.info("utterance", extra={**extra, "text": utterance.text})
        asked_by = utterance
        if utterance.confirm_token is not None:  # "yes" to a held request: replay it, confirmed
            if self._confirmations is None:
                return self.refusal(asked_by, Outcome.ERROR, "this edge holds no confirmations")
            try:
                utterance = self._confirmations.redeem(utterance.confirm_token).model_copy(
                    update={"id": asked_by.id})  # the answer goes to whoever confirmed
            except ConfirmationError as exc:
                return self.refusal(asked_by, Outcome.ERROR, f"{exc}")
        return await self.decide_redeemed(utterance, run)

    async def decide_redeemed(self, utterance: Utterance, run: Run) -> Decision:
        """`decide` for a request whose confirmation, if any, is redeemed already (`POST /v1/confirmations`)."""
        extra = {"trace_id": utterance.trace_id, "edge_id": self._edge_id}
        verdict = None
        if self.policy is not None:
            verdict = self.policy.decide(utterance.user, mentioned_domains(utterance.text), utterance.source)
        try:
            if verdict is not None and verdict.action is Action.SHED:
                raise ShedError(verdict.priority, "load")
            if verdict is not None and verdict.action is Action.QUEUE and self._admission is not None:
                async with self._admission.slot(verdict.priority, verdict.wait_s):
                    decision = await run(utterance)
            else:
                decision = await run(utterance)
            self._on_latency(decision.latency_ms)
        except ShedError as exc:
            decision = self.refusal(utterance, Outcome.BUSY, render(utterance.language or "en", "busy"))
            log.warning("request shed", extra={**extra, "rule": verdict.rule if verdict else None,
                                               "reason": str(exc)})
        except Exception as exc:  # the daemon stays up whatever one request does
            log.exception("pipeline failed", extra=extra)
            decision = self.refusal(utterance, Outcome.ERROR, f"internal error: {type(exc).__name__}")
        decision.policy_rule = verdict.rule if verdict is not None else None
        decision.user = utterance.user
        if decision.outcome is Outcome.NEEDS_CONFIRMATION and self._confirmations is not None:
            decision.confirm_token = self._confirmations.issue(utterance, plan_id=decision.plan_id,
                                                               plan_digest=decision.plan_digest)
            decision.confirm_ttl_s = self._confirmations.ttl_s
        if self._monitor is not None:
            self._monitor.observe(ActivityEvent.from_decision(decision, utterance, utterance.user or "unknown"))
        return decision

    def refusal(self, utterance: Utterance, outcome: Outcome, reply: str) -> Decision:
        """A decision made without the pipeline (a bad token, shed load, an internal error)."""
        return Decision(utterance_id=utterance.id, trace_id=utterance.trace_id, edge_id=self._edge_id,
                        text=utterance.text, language=utterance.language or "en", outcome=outcome, reply=reply,
                        latency_ms=0.0)


def activity_of(plan: Plan, utterance: Utterance, source: str) -> ActivityEvent:
    """The request about to run, as the behaviour monitor checks it."""
    actions = [ActionRef(device_id=e.device_id, domain=e.domain, command=c.name) for e, c in plan.actions]
    return ActivityEvent(who=utterance.user or "unknown", intent=plan.intent, actions=actions, area=utterance.area,
                         source=str(source), channel=utterance.source, trace_id=utterance.trace_id, ts=utterance.ts,
                         text=utterance.text, confirmed=utterance.confirmed)


def summary(language: str, plan: Plan) -> str:
    """What a held plan would do, in the user's words ("unlock Front Door; open Garage")."""
    sep = "; " if language == "en" else "，"
    return sep.join(action_phrase(language, c.name, display(e, language), c.value, pending=True)
                    for e, c in plan.actions)
