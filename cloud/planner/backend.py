"""Builds the configured planner backend (local GLM engine or OpenAI-compatible server) for the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry

from cloud.planner.batch import BatchRunner
from cloud.planner.engine import PlannerEngine
from cloud.planner.local import LocalPlanner
from cloud.planner.remote import OpenAIPlanner
from cloud.planner.scheduler import BatchPolicy
from cloud.settings import PlannerSettings
from shared.errors import ConfigError

#: The tiny planner shipped with the package (trained by `autoglm planner train-tiny`, no downloads).
SHIPPED_MODEL_DIR: Final = Path(__file__).resolve().parents[1] / "models" / "planner-tiny"
#: Where `autoglm planner train-tiny` writes by default; preferred over the shipped one when present.
TRAINED_MODEL_DIR: Final = Path("var/planner-tiny")


def default_model_dir() -> Path:
    """The planner used when no model_dir is set: a locally trained one, else the shipped one."""
    return TRAINED_MODEL_DIR if (TRAINED_MODEL_DIR / "manifest.json").is_file() else SHIPPED_MODEL_DIR


def local_engine(settings: PlannerSettings, *, registry: CollectorRegistry | None = None) -> PlannerEngine:
    """An engine over the local checkpoint (loaded at start, or on first use when lazy)."""
    model_dir = settings.model_dir or default_model_dir()

    def load() -> BatchRunner:
        from cloud.planner.runner import ModelRunner  # torch loads with the model, not with the app

        return ModelRunner.load(model_dir, dtype=settings.dtype, device=settings.device)

    policy = BatchPolicy(settings.max_batch_size, settings.batch_timeout_micros, settings.max_queue)
    return PlannerEngine(load, policy=policy, lazy_load=settings.lazy_load,
                         request_timeout_s=settings.request_timeout_s, max_new_tokens=settings.max_new_tokens,
                         registry=registry)


@asynccontextmanager
async def open_planner(settings: PlannerSettings, *,
                       registry: CollectorRegistry | None = None) -> AsyncIterator[LocalPlanner | OpenAIPlanner]:
    """The planner for `settings.backend`, started, and closed on exit."""
    if settings.backend == "openai":
        if not settings.openai_base_url or not settings.openai_model:
            raise ConfigError("backend openai needs OPEN_AUTOGLM_PLANNER__OPENAI_BASE_URL and __OPENAI_MODEL")
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        remote = OpenAIPlanner(settings.openai_base_url, settings.openai_model, api_key=key,
                               timeout_s=settings.request_timeout_s)
        try:
            yield remote
        finally:
            await remote.aclose()
        return
    engine = local_engine(settings, registry=registry)
    async with engine:
        yield LocalPlanner(engine, model_name=(settings.model_dir or default_model_dir()).name)
