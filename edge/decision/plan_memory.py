"""Cloud plans kept for offline replay: keyed on the words and on the device registry they were made for."""

from __future__ import annotations

import asyncio

from edge.decision.normalize import normalize_text
from edge.devices.registry import Registry
from edge.ports import CachedDecision, DecisionMemory, Versions
from shared.decision import DecisionSource
from shared.plan import Plan


class CachedPlans:
    """The one owner of plan memory (ports.PlanMemory), over the decision cache: the fallback remembers what the
    cloud planned, the pipeline recalls it while the cloud is away."""

    def __init__(self, cache: DecisionMemory, registry: Registry) -> None:
        self._cache = cache
        self._registry = registry

    async def remember(self, text: str, language: str, plan: Plan) -> None:
        """Keep the plan the cloud made for these words."""
        decision = CachedDecision(intent="plan", slots={}, source=DecisionSource.CLOUD,
                                  plan=plan.model_dump(mode="json"))
        await asyncio.to_thread(self._cache.put, normalize_text(text), language, self._versions(), [], decision)

    async def recall(self, text: str, language: str) -> Plan | None:
        """A plan kept for these words, while the device registry is the one it was made for."""
        hit = await asyncio.to_thread(self._cache.get, normalize_text(text), language, self._versions())
        if hit is None or hit.source is not DecisionSource.CLOUD or hit.plan is None:
            return None
        return Plan.model_validate(hit.plan)

    def _versions(self) -> Versions:
        return Versions(planner="cloud", registry=self._registry.digest())
