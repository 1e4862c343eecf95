"""Choosing and starting the planner backend from settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.planner.backend import open_planner
from cloud.planner.local import LocalPlanner
from cloud.planner.remote import OpenAIPlanner
from cloud.settings import PlannerSettings
from shared.errors import ConfigError, PlannerUnavailableError
from shared.plan import PlanRequest


async def test_openai_backend_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPEN_AUTOGLM_PLANNER__BACKEND", "openai")
    monkeypatch.setenv("OPEN_AUTOGLM_PLANNER__OPENAI_BASE_URL", "http://vllm:8000/v1")
    monkeypatch.setenv("OPEN_AUTOGLM_PLANNER__OPENAI_MODEL", "glm-4-9b")
    async with open_planner(PlannerSettings()) as planner:
        assert isinstance(planner, OpenAIPlanner) and planner.model_name == "glm-4-9b"


async def test_openai_backend_needs_a_url() -> None:
    with pytest.raises(ConfigError, match="OPENAI_BASE_URL"):
        async with open_planner(PlannerSettings(backend="openai")):
            pass


async def test_lazy_local_backend_waits_for_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPEN_AUTOGLM_LAZY_LOAD", "1")
    async with open_planner(PlannerSettings(model_dir=tmp_path / "missing")) as planner:
        assert isinstance(planner, LocalPlanner) and planner.status() == "lazy"
        with pytest.raises(PlannerUnavailableError, match=r"no config\.json"):
            await planner.propose(PlanRequest(text="x", edge_id="e1"), [], trace_id="t")
        assert planner.status() == "unavailable"


async def test_eager_local_backend_with_a_missing_model_is_unavailable(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPEN_AUTOGLM_LAZY_LOAD", raising=False)
    async with open_planner(PlannerSettings(model_dir=tmp_path / "missing", lazy_load=False)) as planner:
        assert planner.status() == "unavailable"
