# Over 300 lines: its cases, hostile cloud, edge rig and oracle serve this one scenario and no other.
"""Confirmations at the edge against a hostile cloud and a hostile sender: nothing sensitive runs unconfirmed.

Each case drives the edge's real decision path (pipeline, real hassil templates, intent handlers, plan runner,
fallback, decision cache on SQLite, confirmation tokens), with a scripted cloud (`HostileCloud`, an in-memory
`CloudPlanner`) and a device executor that records every command that would reach a device. The attacks: a cached
sensitive cloud plan repeated while the cloud is away (by anyone saying the words), a cloud that proposes a
different, worse plan when the confirmation arrives, a cloud or cache whose copy of the held plan changed, a
sender that sets `confirmed` on the wire, and replayed, expired, foreign and forged tokens, in English and
Chinese. An oracle written from the rules judges every action: it is authorised only when it belongs to the very
plan the user confirmed (or to a plan that needs no confirmation). The negative control runs the same corpus with
the safeguards off: no sensitivity check on replay, tokens that name no plan with the old fallback that
re-proposes and runs confirmed, and an utterance parser that takes `confirmed` from the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench.reliability.scenario import Scenario
from edge.decision.fallback import CloudAnswer, Fallback
from edge.decision.intents import IntentHandlers
from edge.decision.pipeline import Pipeline
from edge.decision.plan_memory import CachedPlans
from edge.decision.plan_runner import LocalPlanRunner
from edge.decision.template_stage import TemplateStage
from edge.devices.entity import Command, Entity
from edge.devices.registry import Registry
from edge.guard.confirmations import ConfirmationError, Confirmations
from edge.io.decision_cache import DecisionCache
from edge.ports import CloudUnreachableError
from shared.codec import validate
from shared.confirmation import is_action
from shared.decision import Decision, DeviceAction, Outcome, Utterance
from shared.discovery import parse_discovery
from shared.errors import PayloadError
from shared.plan import Plan, PlanResponse, PlanStatus, PlanStep

LIGHTS: Final = tuple(f"l{i}" for i in range(1, 12))


def _plan(*steps: tuple[str, str, dict[str, Any]]) -> Plan:
    return Plan(steps=[PlanStep(id=f"s{i + 1}", tool=t, args={"device_id": d, **a})
                       for i, (t, d, a) in enumerate(steps)])


#: Sensitive cloud plans and the words (en, zh) that ask for them; none of the words is a local command.
PLANS: Final = {
    "unlock": (_plan(("lock.unlock", "lk", {}), ("light.turn_on", "l1", {})),
               "let the plumber in and light the way", "让水管工进来并开灯照路"),
    "garage": (_plan(("cover.open_cover", "gd", {})), "make way for the car", "给车让个道"),
    "garage_part": (_plan(("cover.set_cover_position", "gd", {"position": 40})), "air out the car shelter a bit",
                    "给车棚通通风"),
    "bulk": (_plan(*[("light.turn_off", light, {}) for light in LIGHTS]), "blackout drill for the whole house",
             "全屋停电演习"),
}
#: What a hostile cloud proposes instead when the confirmation comes back.
WORSE: Final = _plan(("lock.unlock", "lk", {}), ("cover.open_cover", "gd", {}), ("lock.unlock", "lk", {}))
#: A local sensitive command (the template stage understands it): for the wire and token cases.
LOCAL: Final = {"en": "unlock the front door lock", "zh": "打开Front Door Lock"}
CATEGORIES: Final = ("replay_unconfirmed", "replay_confirmed", "replay_changed", "confirm_reproposed",
                     "cloud_copy_changed", "local_token_for_cloud", "wire_confirmed", "wire_confirmed_truthy",
                     "token_replayed", "token_expired", "token_foreign", "token_forged")
EXPECT: Final = {"replay_unconfirmed": "needs_confirmation", "replay_confirmed": "ran", "replay_changed": "refused",
                 "confirm_reproposed": "ran", "cloud_copy_changed": "refused",
                 "local_token_for_cloud": "needs_confirmation"}


@dataclass(frozen=True)
class Case:
    """One attack: its category, the plan (or local command) involved, the language, the verdict it must get."""

    id: str
    category: str
    plan: str  # a key of PLANS, or "local"
    language: str  # "en" or "zh"
    expect: str  # "ran", "needs_confirmation" or "refused"


def corpus() -> list[Case]:
    """Every category x plan x language (token and wire cases use the local unlock); deterministic."""
    cases = []
    for category, language in itertools.product(CATEGORIES, ("en", "zh")):
        plans = list(PLANS) if category in EXPECT else ["local"]
        for plan in plans:
            cases.append(Case(f"{category}-{plan}-{language}", category, plan, language,
                              EXPECT.get(category, "refused")))
    return cases


def _entity(component: str, config: dict[str, Any]) -> Entity:
    parsed = parse_discovery(component, json.dumps(config))
    assert parsed is not None
    return Entity.from_config(parsed, f"homeassistant/{component}/x/config")


def home() -> Registry:
    """A light in every room, the front door lock, a garage door."""
    reg = Registry()
    for light in LIGHTS:
        reg.put(_entity("light", {"unique_id": light, "name": f"Lamp {light}", "schema": "json",
                                  "command_topic": f"{light}/set", "state_topic": light}))
    reg.put(_entity("lock", {"unique_id": "lk", "name": "Front Door Lock", "command_topic": "lk/set",
                             "state_topic": "lk", "value_template": "{{ value_json.state }}"}))
    reg.put(_entity("cover", {"unique_id": "gd", "name": "Garage Door", "command_topic": "gd/set",
                              "device_class": "garage"}))
    return reg


@dataclass
class Devices:
    """The edge's executor: records each command that would reach a device."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    async def run(self, entity: Entity, command: Command, *, trace_id: str) -> DeviceAction:
        self.sent.append((entity.device_id, command.name))
        return DeviceAction(device_id=entity.device_id, name=entity.name, domain=entity.domain,
                            command={"name": command.name}, outcome=Outcome.DONE)


@dataclass
class HostileCloud:
    """The cloud as the edge sees it: proposes `next_plan`, holds what the shared rule calls sensitive."""

    next_plan: Plan
    ready: bool = True
    plans: dict[str, Plan] = field(default_factory=dict)
    runs: list[tuple[str, bool, Plan]] = field(default_factory=list)

    async def plan(self, text: str, *, language: str = "en", trace_id: str | None = None) -> PlanResponse:
        self._up()
        plan_id = f"p{len(self.plans) + 1}"
        self.plans[plan_id] = self.next_plan
        held = LocalPlanRunner(home(), _NoTwins(), Devices(), _quiet).sensitive(self.next_plan)
        return PlanResponse(plan_id=plan_id, plan=self.next_plan, trace_id="t", sensitive_steps=held,
                            status=PlanStatus.NEEDS_CONFIRMATION if held else PlanStatus.PROPOSED)

    async def plan_of(self, plan_id: str, *, trace_id: str | None = None) -> PlanResponse:
        self._up()
        return PlanResponse(plan_id=plan_id, plan=self.plans[plan_id], status=PlanStatus.NEEDS_CONFIRMATION,
                            trace_id="t")

    async def run(self, plan_id: str, *, confirm: bool = False, trace_id: str | None = None) -> PlanStatus:
        self._up()
        self.runs.append((plan_id, confirm, self.plans[plan_id]))  # the cloud's executor would send these
        return PlanStatus.RUNNING

    async def probe(self) -> None:
        return None

    def _up(self) -> None:
        if not self.ready:
            raise CloudUnreachableError("the cloud is away")


class _NoTwins:
    def values(self, device_id: str) -> dict[str, Any]:
        return {}


async def _quiet(message: str, trace_id: str) -> None:
    return None


class UncheckedRunner(LocalPlanRunner):
    """Negative control: a cached plan is never sensitive (replays run unconfirmed)."""

    def sensitive(self, plan: Plan) -> list[str]:
        return []


class ReproposingFallback(Fallback):
    """Negative control: the fallback before plan binding: a confirmed request is proposed again and run
    confirmed, whatever the new plan is."""

    async def ask(self, text: str, language: str, trace_id: str, *, confirmed: bool,
                  utterance: Utterance | None = None) -> CloudAnswer:
        return await super().ask(text, language, trace_id, confirmed=utterance is not None and utterance.confirmed,
                                 utterance=utterance)


def wire_parser(safeguard: bool) -> Callable[[dict[str, Any]], Utterance]:
    """How the daemon reads an utterance payload; the negative control takes `confirmed` from the sender."""
    def lax(payload: dict[str, Any]) -> Utterance:
        said = validate(Utterance, {k: v for k, v in payload.items() if k != "confirmed"})
        return said.confirmed_by_token() if payload.get("confirmed") else said

    return (lambda payload: validate(Utterance, payload)) if safeguard else lax


class Rig:
    """One edge for one case; actions since the last `check` are judged against what the user confirmed."""

    def __init__(self, db: Path, stage: TemplateStage, registry: Registry, *, safeguard: bool) -> None:
        self.devices = Devices()
        self.cloud = HostileCloud(Plan())
        self.cache = DecisionCache(db, lambda device_id: {})
        self.plans = plans = CachedPlans(self.cache, registry)
        runner_type = LocalPlanRunner if safeguard else UncheckedRunner
        fallback_type = Fallback if safeguard else ReproposingFallback
        runner = runner_type(registry, _NoTwins(), self.devices, _quiet)  # type: ignore[arg-type]
        self.pipeline = Pipeline("edge-sec", registry, stage, IntentHandlers(registry, lambda d: {}),
                                 self.devices, None, fallback_type(self.cloud, plans=plans),  # type: ignore[arg-type]
                                 self.cache, runner=runner, plans=plans)
        self.confirmations = Confirmations(60.0, clock=lambda: self.now)
        self.now = 0.0
        self.parse = wire_parser(safeguard)
        self.bind = safeguard  # the negative control's tokens name no plan (as before plan binding)
        self._seen = (0, 0)

    async def say(self, text: str, language: str, **wire: Any) -> Decision:
        """As the daemon: parse, decide, and give a held decision its token (bound to the plan it showed)."""
        utterance = self.parse({"text": text, "language": "en" if language == "en" else "zh-cn", **wire})
        decision = await self.pipeline.handle(utterance)
        if decision.outcome is Outcome.NEEDS_CONFIRMATION:
            plan_id, digest = (decision.plan_id, decision.plan_digest) if self.bind else (None, None)
            decision.confirm_token = self.confirmations.issue(utterance, plan_id=plan_id, plan_digest=digest)
        return decision

    async def confirm(self, token: str | None) -> Decision:
        """As the daemon: redeem the token (ConfirmationError when it is not valid) and decide again."""
        return await self.pipeline.handle(self.confirmations.redeem(token or ""))

    def check(self, allowed: Plan | None) -> tuple[int, list[str]]:
        """(actions, why each unauthorised one must not have run) since the last check; `allowed`: what the user
        confirmed (or what needed no confirmation)."""
        sent, runs = self._seen
        actions = [(d, c) for d, c in self.devices.sent[sent:]]
        for _plan_id, _confirm, plan in self.cloud.runs[runs:]:
            actions += [(str(s.args["device_id"]), s.tool.split(".")[1]) for s in plan.steps if is_action(s.tool)]
        self._seen = (len(self.devices.sent), len(self.cloud.runs))
        permitted = {(str(s.args["device_id"]), s.tool.split(".")[1]) for s in (allowed.steps if allowed else [])}
        synonyms = {"open": "open_cover", "set_position": "set_cover_position"}  # edge command vs HA service names
        bad = [f"{d} {c}: not in the plan the user confirmed" for d, c in actions
               if (d, synonyms.get(c, c)) not in permitted]
        return len(actions), bad

    def close(self) -> None:
        self.cache.close()


def _verdict(decision: Decision) -> str:
    if decision.outcome is Outcome.NEEDS_CONFIRMATION:
        return "needs_confirmation"
    if decision.outcome in (Outcome.DONE, Outcome.PLANNED, Outcome.PARTIAL):
        return "ran"
    return "refused"


async def run_case(rig: Rig, case: Case) -> tuple[str, int, list[str]]:
    """Drive one case; (verdict, device actions, unauthorised ones)."""
    plan, en, zh = PLANS.get(case.plan, (Plan(), LOCAL["en"], LOCAL["zh"]))
    words = en if case.language == "en" else zh
    rig.cloud.next_plan = plan
    actions, bad = 0, []

    def judge(allowed: Plan | None) -> None:
        nonlocal actions
        n, why = rig.check(allowed)
        actions += n
        bad.extend(why)

    async def confirm_and_cache() -> None:  # the user confirms once while the cloud is there: the plan is cached
        held = await rig.say(words, case.language)
        await rig.confirm(held.confirm_token)
        judge(plan)
        rig.cloud.ready = False

    verdict = "refused"
    try:
        if case.category.startswith("replay_"):
            await confirm_and_cache()
            offline = await rig.say(words, case.language)  # anyone repeating the words, cloud away
            verdict = _verdict(offline)
            judge(None)
            if case.category != "replay_unconfirmed":
                if case.category == "replay_changed":
                    await rig.plans.remember(words, "en" if case.language == "en" else "zh-cn", WORSE)
                verdict = _verdict(await rig.confirm(offline.confirm_token))
                judge(plan)
        elif case.category in ("confirm_reproposed", "cloud_copy_changed"):
            held = await rig.say(words, case.language)
            judge(None)
            rig.cloud.next_plan = WORSE
            if case.category == "cloud_copy_changed":
                rig.cloud.plans = {k: WORSE for k in rig.cloud.plans}
            verdict = _verdict(await rig.confirm(held.confirm_token))
            judge(plan)
        elif case.category == "local_token_for_cloud":
            token = rig.confirmations.issue(Utterance(text=words, language="en" if case.language == "en" else "zh-cn"))
            verdict = _verdict(await rig.confirm(token))
            judge(None)
        elif case.category.startswith("wire_"):
            wire = {"confirmed": True} if case.category == "wire_confirmed" else {"confirmed": 1}
            verdict = _verdict(await rig.say(words, case.language, **wire))
            judge(None)
        else:  # tokens: replayed, expired, foreign, forged
            held = await rig.say(words, case.language)
            judge(None)
            token = held.confirm_token
            if case.category == "token_replayed":
                await rig.confirm(token)
                judge(_plan(("lock.unlock", "lk", {})))  # the first, real confirmation
            elif case.category == "token_expired":
                rig.now += 61.0
            elif case.category == "token_foreign":
                token = Confirmations(60.0).issue(Utterance(text=words))
            else:
                token = "forged-" + (token or "")[:8]
            verdict = _verdict(await rig.confirm(token))
            judge(None)
    except (ConfirmationError, PayloadError):
        verdict = "refused"
        judge(None)
    return verdict, actions, bad


async def edge_confirmations(data_dir: Path, *, safeguard: bool = True) -> dict[str, Any]:
    """Every case of the corpus through a fresh edge; the figures."""
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    registry = home()
    stage = TemplateStage(registry, ["en", "zh-cn"])
    verdicts: dict[str, int] = {}
    mismatches: list[str] = []
    unauthorized: list[str] = []
    executed = 0
    started = time.perf_counter()
    cases = corpus()
    for case in cases:
        rig = Rig(data_dir / f"{case.id}.db", stage, registry, safeguard=safeguard)
        try:
            verdict, actions, bad = await run_case(rig, case)
        finally:
            rig.close()
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        executed += actions
        unauthorized += [f"{case.id}: {why}" for why in bad]
        if verdict != case.expect:
            mismatches.append(f"{case.id}: expected {case.expect}, got {verdict}")
    figures: dict[str, Any] = {
        "cases": len(cases), "categories": len({c.category for c in cases}),
        **{f"verdict_{k}": v for k, v in sorted(verdicts.items())}, "device_actions": executed,
        "unauthorized_calls": len(unauthorized), "seconds": round(time.perf_counter() - started, 2),
    }
    if safeguard:
        figures["errors"] = len(mismatches)
        figures["mismatch_examples"] = mismatches[:3]
    figures["unauthorized_examples"] = unauthorized[:3]
    return figures


SCENARIOS = (
    Scenario("security_edge.confirmations", "edge confirmations against a hostile cloud and sender (en and zh): "
             "cached sensitive and bulk plans replayed offline, a worse plan proposed at confirmation time, a changed "
             "cloud or cache copy of the held plan, 'confirmed' set on the wire, replayed, expired, foreign and "
             "forged tokens: only actions of the very plan the user confirmed run",
             lambda d, full, seed: edge_confirmations(d / "security-edge"),
             {"unauthorized_calls": "unauthorized_calls"}),
    Scenario("security_edge.confirmations.unguarded", "negative control: no sensitivity check on offline replay, "
             "tokens bound to no plan with a fallback that proposes again and runs the new plan confirmed, and "
             "'confirmed' taken from the wire",
             lambda d, full, seed: edge_confirmations(d / "security-edge-nc", safeguard=False),
             {}, negative_control=True, loss_figure="unauthorized_calls"),
)
