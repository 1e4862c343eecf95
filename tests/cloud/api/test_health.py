"""Health, readiness (planner state, lazy loading) and metrics, without authentication; trace ids echoed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cloud.app import create_app
from cloud.auth import issue_token
from cloud.settings import load_cloud_settings
from shared.errors import ConfigError, ModelError
from tests.cloud.conftest import Cloud, FakePlanner, cloud_settings


async def test_healthz_needs_no_token_and_echoes_trace_id(cloud: Cloud) -> None:
    response = await cloud.client.get("/healthz", headers={"X-Trace-ID": "trace-123"})
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["X-Trace-ID"] == "trace-123"
    fresh = await cloud.client.get("/healthz")
    assert len(fresh.headers["X-Trace-ID"]) == 32
    hostile = await cloud.client.get("/healthz", headers={"X-Trace-ID": "a b\x7f" * 40})
    assert hostile.headers["X-Trace-ID"] != "a b\x7f" * 40


async def test_readyz_reports_planner_state(cloud: Cloud) -> None:
    response = await cloud.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "store": "ok", "planner": "lazy"}
    cloud.planner.state = "loading"
    response = await cloud.client.get("/readyz")
    assert response.status_code == 503 and response.json()["planner"] == "loading"
    assert cloud.planner.started, "the lifespan starts the planner (which honours lazy loading itself)"


async def test_readyz_without_planner_is_disabled_but_ready(tmp_path: Path) -> None:
    app = create_app(cloud_settings(tmp_path))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            body = (await client.get("/readyz")).json()
    assert body == {"ready": True, "store": "ok", "planner": "disabled"}


async def test_metrics_are_prometheus_text_with_cloud_prefix(cloud: Cloud) -> None:
    await cloud.client.get("/v1/edges")  # a 401, counted
    response = await cloud.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert 'autoglm_cloud_http_requests_total{method="GET",route="/v1/edges",status="401"} 1.0' in response.text
    assert 'autoglm_cloud_auth_failures_total{code="unauthenticated"} 1.0' in response.text


async def test_openapi_documents_bearer_scheme_and_docs_page(cloud: Cloud) -> None:
    spec = (await cloud.client.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["ApiToken"]["scheme"] == "bearer"
    assert spec["paths"]["/v1/plan"]["post"]["security"] == [{"ApiToken": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    assert (await cloud.client.get("/docs")).status_code == 200


def test_settings_from_env_and_lazy_load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPEN_AUTOGLM_PLANNER__BACKEND", "openai")
    monkeypatch.setenv("OPEN_AUTOGLM_PLANNER__MAX_BATCH_SIZE", "8")
    monkeypatch.setenv("OPEN_AUTOGLM_CLOUD__PORT", "9123")
    monkeypatch.setenv("OPEN_AUTOGLM_LAZY_LOAD", "1")
    toml = tmp_path / "cloud.toml"
    toml.write_text('[cloud]\nport = 9000\ntoken_ttl_days = 7\n[planner]\nmax_batch_size = 4\ndtype = "bf16"\n')
    settings = load_cloud_settings(toml, db_path=tmp_path / "x.db")
    assert (settings.port, settings.token_ttl_days, settings.db_path) == (9123, 7, tmp_path / "x.db")
    p = settings.planner
    assert (p.backend, p.max_batch_size, p.dtype, p.lazy_load) == ("openai", 8, "bf16", True)
    assert (p.batch_timeout_micros, p.max_queue) == (100_000, 256)
    monkeypatch.delenv("OPEN_AUTOGLM_LAZY_LOAD")
    assert load_cloud_settings().planner.lazy_load is False


async def test_planner_factory_opens_for_the_lifetime_or_reports_unavailable(tmp_path: Path) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def good() -> AsyncIterator[FakePlanner]:
        events.append("open")
        yield FakePlanner()
        events.append("close")

    app = create_app(cloud_settings(tmp_path), planner_factory=good)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/readyz")).json()["planner"] == "lazy"
    assert events == ["open", "close"]

    @contextlib.asynccontextmanager
    async def broken() -> AsyncIterator[FakePlanner]:
        raise ModelError("no checkpoint in var/planner-tiny")
        yield FakePlanner()  # pragma: no cover

    app = create_app(cloud_settings(tmp_path), planner_factory=broken)
    async with app.router.lifespan_context(app):
        await app.state.services.store.upsert_edge("e1", site="s")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["planner"] == "unavailable"
            admin = issue_token("admin")
            await app.state.services.store.add_token(admin.record)
            response = await client.post("/v1/plan", json={"text": "x", "edge_id": "e1"},
                                         headers={"Authorization": f"Bearer {admin.secret}"})
            assert response.status_code == 503 and "no checkpoint" in response.json()["error"]["message"]


def test_bad_settings_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPEN_AUTOGLM_PLANNER__DTYPE", "int4")
    with pytest.raises(ConfigError, match=r"setting planner\.dtype"):
        load_cloud_settings()
    monkeypatch.delenv("OPEN_AUTOGLM_PLANNER__DTYPE")
    monkeypatch.setenv("OPEN_AUTOGLM_CLOUD__PORT", "http")
    with pytest.raises(ConfigError, match=r"setting cloud\.port"):
        load_cloud_settings()
