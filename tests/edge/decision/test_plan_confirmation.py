"""Confirmations of cloud plans at the edge: a cached plan replays offline only confirmed, and a confirmation runs
exactly the plan the user was shown (by id in the cloud, by digest from the cache), never a new proposal.

Real pipeline, intent handlers, plan runner, fallback, confirmation tokens and decision cache (SQLite); the cloud,
the template stage and the device executor are in-memory fakes of the edge's own interfaces.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from edge.decision.fallback import Fallback
from edge.decision.intents import IntentHandlers
from edge.decision.pipeline import Pipeline
from edge.decision.plan_memory import CachedPlans
from edge.decision.plan_runner import LocalPlanRunner
from edge.devices.entity import Command, Entity
from edge.devices.registry import Registry
from edge.guard.confirmations import Confirmations
from edge.io.decision_cache import DecisionCache
from edge.ports import CloudUnreachableError
from shared.confirmation import plan_digest
from shared.decision import Decision, DeviceAction, Outcome, Utterance
from shared.errors import ConfirmationRequiredError
from shared.plan import Plan, PlanResponse, PlanStatus, PlanStep
from tests.edge.devices.test_entity import LIGHT, entity

UNLOCK = Plan(steps=[PlanStep(id="s1", tool="lock.unlock", args={"device_id": "lk"}),
                     PlanStep(id="s2", tool="light.turn_on", args={"device_id": "l1"})])
LIGHT_ON = Plan(steps=[PlanStep(id="s1", tool="light.turn_on", args={"device_id": "l1"})])
WORDS = "let the plumber in and light the way"


def registry() -> Registry:
    reg = Registry()
    reg.put(entity("light", LIGHT))
    reg.put(entity("lock", {"unique_id": "lk", "name": "Front Door Lock", "command_topic": "lk/set",
                            "state_topic": "lk", "value_template": "{{ value_json.state }}"}))
    for uid, device_class in (("gd", "garage"), ("bl", "blind")):
        reg.put(entity("cover", {"unique_id": uid, "name": f"Cover {uid}", "command_topic": f"{uid}/set",
                                 "device_class": device_class}))
    return reg


class NoTemplates:
    """A template stage that understands nothing: every request goes to the cloud."""

    def match(self, text: str, language: str, area: str | None = None) -> None:
        return None


@dataclass
class Devices:
    """The executor: records each command that would reach a device."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    async def run(self, entity: Entity, command: Command, *, trace_id: str) -> DeviceAction:
        self.sent.append((entity.device_id, command.name))
        return DeviceAction(device_id=entity.device_id, name=entity.name, domain=entity.domain,
                            command={"name": command.name, "value": command.value}, outcome=Outcome.DONE)


@dataclass
class Cloud:
    """An in-memory CloudPlanner: proposes `next_plan` (sensitive per the shared rule), keeps what it proposed."""

    next_plan: Plan
    sensitive: bool = True
    ready: bool = True
    plans: dict[str, Plan] = field(default_factory=dict)
    proposed: int = 0
    runs: list[tuple[str, bool, Plan]] = field(default_factory=list)

    async def plan(self, text: str, *, language: str = "en", trace_id: str | None = None) -> PlanResponse:
        if not self.ready:
            raise CloudUnreachableError("the test cloud is away")
        self.proposed += 1
        plan_id = f"p{self.proposed}"
        self.plans[plan_id] = self.next_plan
        held = [s.id for s in self.next_plan.steps if s.tool == "lock.unlock"] if self.sensitive else []
        return PlanResponse(plan_id=plan_id, plan=self.next_plan, trace_id="t", sensitive_steps=held,
                            status=PlanStatus.NEEDS_CONFIRMATION if held else PlanStatus.PROPOSED)

    async def plan_of(self, plan_id: str, *, trace_id: str | None = None) -> PlanResponse:
        if not self.ready:
            raise CloudUnreachableError("the test cloud is away")
        return PlanResponse(plan_id=plan_id, plan=self.plans[plan_id], status=PlanStatus.NEEDS_CONFIRMATION,
                            trace_id="t")

    async def run(self, plan_id: str, *, confirm: bool = False, trace_id: str | None = None) -> PlanStatus:
        self.runs.append((plan_id, confirm, self.plans[plan_id]))
        return PlanStatus.RUNNING

    async def probe(self) -> None:
        return None


@dataclass
class Edge:
    """The pipeline as the daemon drives it: a held decision gets a token bound to the plan it showed."""

    pipeline: Pipeline
    plans: CachedPlans
    cloud: Cloud
    devices: Devices
    confirmations: Confirmations
    cache: DecisionCache

    async def say(self, text: str = WORDS) -> Decision:
        decision = await self.pipeline.handle(Utterance(text=text, language="en"))
        if decision.outcome is Outcome.NEEDS_CONFIRMATION:
            decision.confirm_token = self.confirmations.issue(Utterance(text=text, language="en"),
                                                              plan_id=decision.plan_id,
                                                              plan_digest=decision.plan_digest)
        return decision

    async def confirm(self, token: str | None) -> Decision:
        assert token is not None
        return await self.pipeline.handle(self.confirmations.redeem(token))


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Edge]:
    reg = registry()
    devices = Devices()
    cloud = Cloud(UNLOCK)
    cache = DecisionCache(tmp_path / "cache.db", lambda device_id: {})
    async def notify(message: str, trace_id: str) -> None:
        return None

    plans = CachedPlans(cache, reg)
    runner = LocalPlanRunner(reg, _NoTwins(), devices, notify)  # type: ignore[arg-type]
    pipeline = Pipeline("edge-1", reg, NoTemplates(), IntentHandlers(reg, lambda d: {}),  # type: ignore[arg-type]
                        devices, fallback=Fallback(cloud, plans=plans), cache=cache,  # type: ignore[arg-type]
                        runner=runner, plans=plans)
    yield Edge(pipeline, plans, cloud, devices, Confirmations(60), cache)
    cache.close()


class _NoTwins:
    def values(self, device_id: str) -> dict[str, Any]:
        return {}


async def test_a_confirmation_runs_the_cloud_plan_that_was_shown_not_a_new_proposal(edge: Edge) -> None:
    held = await edge.say()
    assert held.outcome is Outcome.NEEDS_CONFIRMATION and held.plan_id == "p1"
    assert held.plan_digest == plan_digest(UNLOCK)
    edge.cloud.next_plan = Plan(steps=[PlanStep(id="s1", tool="lock.unlock", args={"device_id": "lk"}),
                                       PlanStep(id="s2", tool="cover.open_cover", args={"device_id": "gd"})])
    done = await edge.confirm(held.confirm_token)
    assert done.outcome is Outcome.PLANNED and done.plan_id == "p1"
    assert edge.cloud.proposed == 1  # no second proposal
    assert edge.cloud.runs == [("p1", True, UNLOCK)]


async def test_a_confirmation_is_refused_when_the_clouds_copy_of_the_plan_changed(edge: Edge) -> None:
    held = await edge.say()
    edge.cloud.plans["p1"] = Plan(steps=[PlanStep(id="s1", tool="lock.unlock", args={"device_id": "lk"})])
    refused = await edge.confirm(held.confirm_token)
    assert refused.outcome is Outcome.REJECTED and "not the one you confirmed" in refused.reply
    assert edge.cloud.runs == [] and edge.devices.sent == []


async def test_a_cached_sensitive_plan_replays_offline_only_once_confirmed(edge: Edge) -> None:
    held = await edge.say()
    assert (await edge.confirm(held.confirm_token)).outcome is Outcome.PLANNED  # confirmed once, and cached
    edge.cloud.ready = False
    offline = await edge.say()  # anyone repeating the words
    assert offline.outcome is Outcome.NEEDS_CONFIRMATION and "lock.unlock" in offline.reply
    assert offline.plan_id is None and offline.plan_digest == plan_digest(UNLOCK)
    assert edge.devices.sent == []  # nothing ran unconfirmed
    done = await edge.confirm(offline.confirm_token)
    assert done.outcome is Outcome.DONE and done.source == "cache"
    assert edge.devices.sent == [("lk", "unlock"), ("l1", "turn_on")]


async def test_a_held_cached_plan_that_changed_before_the_confirmation_does_not_run(edge: Edge) -> None:
    held = await edge.say()
    await edge.confirm(held.confirm_token)
    edge.cloud.ready = False
    offline = await edge.say()
    other = Plan(steps=[PlanStep(id="s1", tool="lock.unlock", args={"device_id": "lk"}),
                        PlanStep(id="s2", tool="cover.open_cover", args={"device_id": "gd"})])
    await edge.plans.remember(WORDS, "en", other)  # the cache entry is replaced in between
    refused = await edge.confirm(offline.confirm_token)
    assert refused.outcome is Outcome.REJECTED and edge.devices.sent == []


async def test_a_harmless_cached_plan_replays_offline_without_confirmation(edge: Edge) -> None:
    edge.cloud.next_plan, edge.cloud.sensitive = LIGHT_ON, False
    assert (await edge.say()).outcome is Outcome.PLANNED
    edge.cloud.ready = False
    offline = await edge.say()
    assert offline.outcome is Outcome.DONE and edge.devices.sent == [("l1", "turn_on")]


async def test_a_local_confirmation_does_not_confirm_a_cloud_plan(edge: Edge) -> None:
    # A token held for no plan (a local unlock, a behaviour-monitor hold) whose words now go to the cloud.
    token = edge.confirmations.issue(Utterance(text=WORDS, language="en"))
    again = await edge.confirm(token)
    assert again.outcome is Outcome.NEEDS_CONFIRMATION and edge.cloud.runs == []


def test_the_runner_holds_unlocks_garage_doors_and_bulk_plans_with_the_clouds_rule() -> None:
    reg = registry()
    runner = LocalPlanRunner(reg, _NoTwins(), Devices(), lambda m, t: None)  # type: ignore[arg-type]

    def plan(*steps: tuple[str, str, dict[str, Any]]) -> Plan:
        return Plan(steps=[PlanStep(id=f"s{i + 1}", tool=t, args={"device_id": d, **a})
                           for i, (t, d, a) in enumerate(steps)])

    assert runner.sensitive(plan(("lock.unlock", "lk", {}))) == ["s1"]
    assert runner.sensitive(plan(("cover.open_cover", "gd", {}), ("cover.open_cover", "bl", {}))) == ["s1"]
    assert runner.sensitive(plan(("cover.set_cover_position", "gd", {"position": 40}))) == ["s1"]
    assert runner.sensitive(plan(("cover.set_cover_position", "gd", {"position": 0}))) == []
    assert runner.sensitive(plan(*[("light.turn_off", "l1", {})] * 10)) == []
    assert len(runner.sensitive(plan(*[("light.turn_off", "l1", {})] * 11))) == 11  # bulk


async def test_the_runner_refuses_an_unconfirmed_sensitive_plan_before_any_step() -> None:
    devices = Devices()
    runner = LocalPlanRunner(registry(), _NoTwins(), devices, lambda m, t: None)  # type: ignore[arg-type]
    with pytest.raises(ConfirmationRequiredError) as raised:
        await runner.run(UNLOCK, trace_id="t")
    assert raised.value.steps == ["s1"] and devices.sent == []
    await runner.run(UNLOCK, trace_id="t", confirmed=True)
    assert devices.sent == [("lk", "unlock"), ("l1", "turn_on")]
