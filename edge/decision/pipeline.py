"""The edge's decision pipeline: normalise -> template -> model -> intent handlers -> execute, else the cloud."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from edge.decision.compound import split_request
from edge.decision.fallback import CloudAnswer, Fallback
from edge.decision.gate import Gate
from edge.decision.intents import IntentHandlers, Plan, display
from edge.decision.model_stage import ModelStage
from edge.decision.normalize import detect_language, normalize_text
from edge.decision.plan_runner import LocalPlanRunner
from edge.decision.replies import Refusal, action_phrase, render
from edge.decision.schedule import is_relative, schedule_of, without
from edge.decision.template_stage import IntentMatch, TemplateStage
from edge.devices.entity import Command, Entity
from edge.devices.executor import Executor, outcome_of
from edge.devices.registry import Registry
from edge.ports import CachedDecision, DecisionMemory, PlanMemory, Versions
from shared.confirmation import plan_digest
from shared.decision import Decision, DecisionSource, DeviceAction, Outcome, Utterance
from shared.errors import AutoGLMError

log = logging.getLogger(__name__)



def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


#: What the template stage matches with: a new intents package can change any template decision.
_TEMPLATES_VERSION = f"hassil-{_version('hassil')}+intents-{_version('home-assistant-intents')}"

class Pipeline:
    """Turns an utterance into a decision record; each stage says "not mine" by returning None."""

    def __init__(self, edge_id: str, registry: Registry, template: TemplateStage, handlers: IntentHandlers,
                 executor: Executor, model: ModelStage | None = None, fallback: Fallback | None = None,
                 cache: DecisionMemory | None = None, *, gate: Gate | None = None,
                 runner: LocalPlanRunner | None = None, plans: PlanMemory | None = None) -> None:
        """`fallback` sends what the edge cannot serve to the cloud; `runner` replays the cloud plans kept in `plans`
        while the cloud is away; `gate` decides whether a plan may run now (without one: sensitivity alone)."""
        self._edge_id = edge_id
        self._registry = registry
        self._template = template
        self._model = model
        self._handlers = handlers
        self._executor = executor
        self._fallback = fallback
        self._runner = runner
        self._cache = cache
        self._plans = plans
        self._gate = gate if gate is not None else Gate(edge_id)

    async def handle(self, utterance: Utterance) -> Decision:
        """Decide and act; never raises for a bad request, only reports it in the decision."""
        start = time.perf_counter()
        stages: dict[str, float] = {}
        language = utterance.language or detect_language(utterance.text)
        text = normalize_text(utterance.text)
        base = {"utterance_id": utterance.id, "trace_id": utterance.trace_id, "edge_id": self._edge_id,
                "text": utterance.text, "language": language}

        def finish(outcome: Outcome, reply: str, **fields: object) -> Decision:
            latency = round((time.perf_counter() - start) * 1000, 3)
            return Decision(**base, outcome=outcome, reply=reply, latency_ms=latency, stages_ms=stages,
                            **fields)

        async def cloud_or(outcome: Outcome, reply: str, **fields: object) -> Decision:
            """The cloud's answer when there is a cloud, else the local one.

            A confirmation goes ahead with exactly the plan the user was shown (by plan id in the cloud, or by
            digest for a cached plan), never with a new proposal; a confirmed request that held no plan (a local
            hold) asks the cloud unconfirmed.
            """
            if self._fallback is None:
                return finish(outcome, reply, **fields)
            held_id, held_digest = utterance.held_plan if utterance.confirmed else (None, None)
            t = time.perf_counter()
            if held_id is not None:
                answer = await self._fallback.run_held(held_id, held_digest, utterance.text, language,
                                                       utterance.trace_id)
                if answer.outcome is Outcome.PLANNED and answer.plan is not None and self._plans is not None:
                    await self._plans.remember(utterance.text, language, answer.plan)  # for offline replay
            elif held_digest is not None:  # a cached plan, held while the cloud was away: that plan or nothing
                cached = await self._plans.recall(utterance.text, language) if self._plans is not None else None
                if cached is None or plan_digest(cached) != held_digest:
                    return finish(Outcome.REJECTED, render(language, "confirmation_changed"), **fields)
                answer = CloudAnswer(Outcome.PLANNED, DecisionSource.CACHE, render(language, "cloud_replayed"),
                                     plan=cached, replayed=True)
            else:
                answer = await self._fallback.ask(utterance.text, language, utterance.trace_id, confirmed=False,
                                                  utterance=utterance)
            stages["cloud"] = round((time.perf_counter() - t) * 1000, 3)
            fields.update(source=answer.source, plan_id=answer.plan_id)
            if answer.model is not None:
                fields["model_version"] = answer.model
            digest = plan_digest(answer.plan) if answer.plan is not None else None
            if answer.outcome is Outcome.NEEDS_CONFIRMATION and digest is not None:
                fields["plan_digest"] = digest
            if answer.replayed and answer.plan is not None and self._runner is not None:
                confirmed = held_digest == digest
                if not confirmed and (held := self._runner.sensitive(answer.plan)):
                    summary = ", ".join(s.tool for s in answer.plan.steps if s.id in held)
                    return finish(Outcome.NEEDS_CONFIRMATION,
                                  render(language, "needs_confirmation", summary=summary), plan_digest=digest,
                                  **fields)
                t = time.perf_counter()
                actions = await self._runner.run(answer.plan, trace_id=utterance.trace_id, confirmed=confirmed)
                stages["execute"] = round((time.perf_counter() - t) * 1000, 3)
                outcome, done = _conclude(language, actions) if actions else (Outcome.DONE, "")
                return finish(outcome, f"{answer.reply} {done}".strip(), actions=actions, **fields)
            return finish(answer.outcome, answer.reply, **fields)

        if utterance.confirmed and any(utterance.held_plan):  # the user confirmed a plan: that one, not a new one
            return await cloud_or(Outcome.NOT_UNDERSTOOD, render(language, "not_understood", text=utterance.text))
        when = schedule_of(text, language)
        if when is not None:  # match the command itself; what to do at that time is decided below
            text = without(text, when, language)
        area = self._registry.area_key(utterance.area) if utterance.area else None
        match: IntentMatch | None = None
        hit: CachedDecision | None = None
        source = DecisionSource.CACHE
        versions = self.versions()
        if self._cache is not None and area is None:  # a satellite's area changes what words mean: no cache
            t = time.perf_counter()
            hit = await asyncio.to_thread(self._cache.get, text, language, versions)
            stages["cache"] = round((time.perf_counter() - t) * 1000, 3)
            if hit is not None:
                match = IntentMatch(hit.intent, dict(hit.slots), language, text, dict(hit.spoken),
                                    confidence=hit.confidence, model_version=versions.model or None)
        if match is None:
            t = time.perf_counter()
            match = await asyncio.to_thread(self._template.match, text, language, area)
            stages["template"] = round((time.perf_counter() - t) * 1000, 3)
            source = DecisionSource.TEMPLATE
        if match is None and len(parts := split_request(text, language)) > 1:
            t = time.perf_counter()
            local = await self._local_parts(parts, language, area)
            stages["compound"] = round((time.perf_counter() - t) * 1000, 3)
            pairs = [pair for pair in local or [] if pair is not None]
            if local is not None and len(pairs) == len(local):  # every part is a local command: serve all here
                plan = Plan(intent="+".join(m.intent for m, _ in pairs),
                            actions=[a for _, p in pairs for a in p.actions],
                            sensitive=any(p.sensitive for _, p in pairs))
                by_model = any(m.confidence is not None for m, _ in pairs)
                return await self._act(plan, {"source": DecisionSource.MODEL if by_model else DecisionSource.TEMPLATE,
                                              "intent": plan.intent,
                                              "slots": {"parts": [_jsonable(m.slots) for m, _ in pairs]}},
                                       utterance, language, finish, stages)
            if local is not None and any(local):  # part local, part not: the whole request is the planner's
                return await cloud_or(Outcome.NOT_UNDERSTOOD, render(language, "not_understood", text=utterance.text))
        if match is None and self._model is not None:
            t = time.perf_counter()
            match = await asyncio.to_thread(self._model.match, text, language, area)
            stages["model"] = round((time.perf_counter() - t) * 1000, 3)
            source = DecisionSource.MODEL
        if match is None:
            return await cloud_or(Outcome.NOT_UNDERSTOOD, render(language, "not_understood", text=utterance.text))
        common: dict[str, Any] = {"source": source, "intent": match.intent, "slots": _jsonable(match.slots),
                                  "model_version": match.model_version}
        try:
            plan = self._handlers.plan(match)
        except Refusal as refusal:
            if refusal.key == "not_local":  # understood, but only the cloud can do it
                return await cloud_or(Outcome(refusal.outcome), refusal.reply(language), **common)
            return finish(Outcome(refusal.outcome), refusal.reply(language), **common)
        decided_by = DecisionSource(hit.source) if hit is not None else source
        model = self._model
        if decided_by is DecisionSource.MODEL and model is not None and not model.confident_for(plan, match):
            return await cloud_or(Outcome.NOT_UNDERSTOOD, render(language, "not_understood", text=utterance.text),
                                  **common)
        if plan.answer is not None or plan.answer_key is not None:
            reply = plan.answer if plan.answer is not None else render(language, plan.answer_key or "",
                                                                        **plan.answer_params)
            return finish(Outcome.ANSWERED, reply, **common)
        if when is not None:  # the edge has no scheduler: doing it now would be wrong
            deferred = (Outcome.DEFERRED, render(language, "deferred", when=when))
            if is_relative(when):  # a delay: the planner writes it as a `wait` step
                return await cloud_or(*deferred, when=when, **common)
            return finish(*deferred, when=when, **common)
        if source is not DecisionSource.CACHE and not (plan.sensitive and not utterance.confirmed):
            await self._cache_local(text, language, versions, area, source, match, plan)
        return await self._act(plan, common, utterance, language, finish, stages)

    async def _act(self, plan: Plan, common: dict[str, Any], utterance: Utterance, language: str,
                   finish: Callable[..., Decision], stages: dict[str, float]) -> Decision:
        """The gate (behaviour monitor, confirmation of sensitive plans), then execute and report."""
        hold = self._gate.check(plan, utterance, str(common["source"]), language)
        if hold is not None:
            held_by = {"held_by": hold.held_by} if hold.held_by is not None else {}
            return finish(hold.outcome, hold.reply, **held_by, **common)
        t = time.perf_counter()
        actions = await self._execute(plan, language, utterance.trace_id)
        stages["execute"] = round((time.perf_counter() - t) * 1000, 3)
        outcome, reply = _conclude(language, actions)
        return finish(outcome, reply, actions=actions, **common)

    async def _local_parts(self, parts: list[str], language: str, area: str | None
                           ) -> list[tuple[IntentMatch, Plan] | None] | None:
        """Each part's local command (None where a part is not one); None when no part is a command at all."""
        out: list[tuple[IntentMatch, Plan] | None] = []
        for part in parts:
            match = await asyncio.to_thread(self._template.match, part, language, area)
            if match is None and self._model is not None:
                match = await asyncio.to_thread(self._model.match, part, language, area)
            plan = None
            if match is not None and schedule_of(part, language) is None:
                try:
                    plan = self._handlers.plan(match)
                except Refusal:
                    plan = None
            acts = plan is not None and bool(plan.actions) and plan.answer is None and plan.answer_key is None
            confident = match is not None and (match.confidence is None or (
                self._model is not None and plan is not None and self._model.confident_for(plan, match)))
            out.append((match, plan) if match is not None and plan is not None and acts and confident else None)
        return out if any(out) else None

    def versions(self) -> Versions:
        """What decisions are made with right now (the decision cache's version key)."""
        model = self._model.status().version if self._model is not None else None
        return Versions(template=_TEMPLATES_VERSION, model=model or "", registry=self._registry.digest())

    async def _cache_local(self, text: str, language: str, versions: Versions, area: str | None,
                        source: DecisionSource, match: IntentMatch, plan: Plan) -> None:
        """Cache what the stages understood (not what happened): a hit re-resolves and re-executes it."""
        if self._cache is None or area is not None or match.unmatched or not _plain(match.slots):
            return
        decision = CachedDecision(intent=match.intent, slots=dict(match.slots), source=source,
                                  spoken=dict(match.spoken), confidence=match.confidence)
        ids = [entity.device_id for entity, _ in plan.actions]
        await asyncio.to_thread(self._cache.put, text, language, versions, ids, decision)

    async def _execute(self, plan: Plan, language: str, trace_id: str) -> list[DeviceAction]:
        # Commands to different devices run in parallel; commands to one device keep their order.
        by_device: dict[str, list[tuple[int, Entity, Command]]] = {}
        for index, (entity, command) in enumerate(plan.actions):
            by_device.setdefault(entity.device_id, []).append((index, entity, command))
        results: dict[int, DeviceAction] = {}

        async def run_device(items: list[tuple[int, Entity, Command]]) -> None:
            for index, entity, command in items:
                try:
                    action = await self._executor.run(entity, command, trace_id=trace_id)
                except AutoGLMError as exc:  # UnsupportedActionError and friends: one device, not the request
                    action = DeviceAction(device_id=entity.device_id, name=entity.name, domain=entity.domain,
                                          command={"name": command.name}, outcome=outcome_of(exc), detail=str(exc))
                action.name = display(entity, language)
                results[index] = action

        await asyncio.gather(*(run_device(items) for items in by_device.values()))
        return [results[i] for i in sorted(results)]


def _conclude(language: str, actions: list[DeviceAction]) -> tuple[Outcome, str]:
    done = [a for a in actions if a.outcome == Outcome.DONE]
    failed = [a for a in actions if a.outcome != Outcome.DONE]
    sep = "; " if language == "en" else "，"
    done_text = sep.join(action_phrase(language, str(a.command["name"]), a.name,  # type: ignore[index]
                                       a.command.get("value")) for a in done)  # type: ignore[union-attr]
    fail_text = sep.join(_failure(language, a) for a in failed)
    if not failed:
        return Outcome.DONE, render(language, "done", summary=done_text)
    if done:
        return Outcome.PARTIAL, render(language, "partial", summary=f"{done_text}{sep}{fail_text}")
    outcome = failed[0].outcome or Outcome.ERROR
    return outcome, fail_text


def _failure(language: str, action: DeviceAction) -> str:
    if action.outcome == Outcome.UNAVAILABLE:
        return render(language, "offline", name=action.name)
    if action.outcome == Outcome.TIMEOUT:
        return render(language, "timeout", name=action.name, seconds=action.timeout_s or 0.0)
    if action.outcome == Outcome.REJECTED:
        return render(language, "rejected", name=action.name, reason=action.detail or "?")
    return action.detail or render(language, "error", reason=str(action.outcome))


def _plain(slots: dict[str, object]) -> bool:
    """Slots that survive a JSON round trip unchanged (hassil can put objects in them)."""
    def ok(v: object) -> bool:
        return isinstance(v, str | int | float | bool | type(None)) or (isinstance(v, list) and all(map(ok, v)))
    return all(isinstance(k, str) and ok(v) for k, v in slots.items())


def _jsonable(slots: dict[str, object]) -> dict[str, object]:
    return {k: v if isinstance(v, str | int | float | bool | type(None) | list) else str(v) for k, v in slots.items()}
