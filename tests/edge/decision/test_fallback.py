"""The cloud fallback turns every cloud answer and failure into a decision the user can read."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge.decision.fallback import Fallback
from edge.io.outbox import Outbox
from edge.ports import CloudRejectedError, CloudTimeoutError, CloudUnavailableError, CloudUnreachableError
from shared.decision import DecisionSource, Outcome, Utterance
from shared.plan import Plan, PlanResponse, PlanStatus, PlanStep

LIGHT_ON = Plan(steps=[PlanStep(id="s1", tool="light.turn_on", args={"device_id": "kitchen_light"})])
UNLOCK = Plan(steps=[PlanStep(id="s1", tool="lock.unlock", args={"device_id": "front_door"})])


@dataclass
class FakeCloud:
    """An in-memory CloudPlanner: answers from a script, records what was asked."""

    plan_answer: PlanResponse | Exception
    run_answer: PlanStatus | Exception = PlanStatus.RUNNING
    asked: list[str] = field(default_factory=list)
    runs: list[tuple[str, bool]] = field(default_factory=list)

    async def plan(self, text: str, *, language: str = "en", trace_id: str | None = None) -> PlanResponse:
        self.asked.append(text)
        if isinstance(self.plan_answer, Exception):
            raise self.plan_answer
        return self.plan_answer

    async def run(self, plan_id: str, *, confirm: bool = False, trace_id: str | None = None) -> PlanStatus:
        self.runs.append((plan_id, confirm))
        if isinstance(self.run_answer, Exception):
            raise self.run_answer
        return self.run_answer

    ready: bool = True
    probes: int = 0

    async def probe(self) -> None:
        self.probes += 1


async def test_with_the_breaker_open_the_answer_is_immediate_and_a_probe_runs_in_the_background() -> None:
    cloud = FakeCloud(proposal(LIGHT_ON), ready=False)
    fallback = Fallback(cloud)
    first = await fallback.ask("make the kitchen cosy", "en", "t", confirmed=False)
    second = await fallback.ask("make the kitchen cosy", "en", "t", confirmed=False)
    assert first.outcome is second.outcome is Outcome.CLOUD_UNAVAILABLE
    assert cloud.asked == []  # the cloud was not asked
    await asyncio.sleep(0)
    assert cloud.probes >= 1


def proposal(plan: Plan, status: PlanStatus = PlanStatus.PROPOSED, sensitive: list[str] | None = None) -> PlanResponse:
    return PlanResponse(plan_id="p-1", plan=plan, status=status, trace_id="t-1", sensitive_steps=sensitive or [],
                        model="tiny-planner")


async def test_a_plan_is_proposed_and_run() -> None:
    cloud = FakeCloud(proposal(LIGHT_ON))
    answer = await Fallback(cloud).ask("make the kitchen cosy", "en", "t-1", confirmed=False)
    assert (answer.outcome, answer.source, answer.plan_id, answer.model) == (
        Outcome.PLANNED, DecisionSource.CLOUD, "p-1", "tiny-planner")
    assert cloud.runs == [("p-1", False)]
    assert "1 steps" in answer.reply


async def test_a_sensitive_plan_is_not_run_without_confirmation() -> None:
    cloud = FakeCloud(proposal(UNLOCK, PlanStatus.NEEDS_CONFIRMATION, ["s1"]))
    answer = await Fallback(cloud).ask("let the plumber in", "en", "t-1", confirmed=False)
    assert answer.outcome is Outcome.NEEDS_CONFIRMATION
    assert "lock.unlock" in answer.reply
    assert cloud.runs == []
    confirmed = await Fallback(cloud).ask("let the plumber in", "en", "t-2", confirmed=True)
    assert confirmed.outcome is Outcome.PLANNED and cloud.runs == [("p-1", True)]


async def test_an_empty_plan_is_not_understood() -> None:
    answer = await Fallback(FakeCloud(proposal(Plan(steps=[])))).ask("sing", "en", "t", confirmed=False)
    assert (answer.outcome, answer.source) == (Outcome.NOT_UNDERSTOOD, DecisionSource.CLOUD)


@pytest.mark.parametrize("error", [CloudUnreachableError("refused"), CloudTimeoutError("0.8 s"),
                                   CloudUnavailableError("breaker open", retry_after_s=4.0),
                                   CloudRejectedError(503, server_code="planner_unavailable", message="down"),
                                   CloudRejectedError(429, server_code="planner_overloaded", message="busy")])
async def test_a_cloud_that_is_gone_slow_or_busy_gets_a_clear_degraded_answer(error: Exception) -> None:
    answer = await Fallback(FakeCloud(error)).ask("plan my evening", "en", "t", confirmed=False)
    assert (answer.outcome, answer.source) == (Outcome.CLOUD_UNAVAILABLE, DecisionSource.DEGRADED)
    assert "plan my evening" in answer.reply and "local commands still work" in answer.reply
    assert answer.error


async def test_a_request_the_cloud_refuses_is_not_understood_not_degraded() -> None:
    refused = CloudRejectedError(422, server_code="invalid_plan", message="no such device")
    answer = await Fallback(FakeCloud(refused)).ask("烤个蛋糕", "zh-cn", "t", confirmed=False)
    assert (answer.outcome, answer.source) == (Outcome.NOT_UNDERSTOOD, DecisionSource.CLOUD)
    assert "烤个蛋糕" in answer.reply


async def test_a_run_that_fails_after_the_proposal_is_reported() -> None:
    cloud = FakeCloud(proposal(LIGHT_ON), run_answer=CloudTimeoutError("0.8 s"))
    answer = await Fallback(cloud).ask("make the kitchen cosy", "en", "t", confirmed=False)
    assert answer.outcome is Outcome.CLOUD_UNAVAILABLE


async def test_queue_policy_keeps_a_request_and_runs_it_when_the_cloud_is_back(tmp_path: Path) -> None:
    cloud = FakeCloud(proposal(LIGHT_ON), ready=False)
    now = [1000.0]
    fallback = Fallback(cloud, queue=Outbox(tmp_path / "q.db"), expiry_s=60, clock=lambda: now[0])
    held = Utterance(text="make the kitchen cosy", language="en")
    answer = await fallback.ask(held.text, "en", held.trace_id, confirmed=False, utterance=held)
    assert answer.outcome is Outcome.QUEUED and "within 1 min" in answer.reply
    assert await fallback.drain() == []  # still away: nothing runs, nothing is lost
    cloud.ready = True
    [(utterance, done)] = await fallback.drain()
    assert utterance.id == held.id and done.outcome is Outcome.PLANNED and cloud.runs == [("p-1", False)]
    assert await fallback.drain() == []  # ran once


async def test_a_queued_request_that_expired_is_reported_not_run(tmp_path: Path) -> None:
    cloud = FakeCloud(proposal(LIGHT_ON), ready=False)
    now = [1000.0]
    fallback = Fallback(cloud, queue=Outbox(tmp_path / "q.db"), expiry_s=60, clock=lambda: now[0])
    held = Utterance(text="make the kitchen cosy", language="en")
    await fallback.ask(held.text, "en", held.trace_id, confirmed=False, utterance=held)
    now[0] += 61
    cloud.ready = True
    [(_, expired)] = await fallback.drain()
    assert expired.outcome is Outcome.CLOUD_UNAVAILABLE and "too long" in expired.reply
    assert cloud.asked == []
