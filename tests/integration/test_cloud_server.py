"""The cloud API under a real uvicorn server on a free port: health, token auth, a plan from a fake planner."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from bench.reliability.procs import free_port
from cloud.app import create_app
from cloud.auth import issue_token
from cloud.sqlite_store import SqliteStore
from tests.cloud.conftest import EDGE_A, SITE_A, FakePlanner, cloud_settings, seed

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A seeded database, an operator and an edge token, and the app served by uvicorn in a thread."""
    settings = cloud_settings(tmp_path, port=free_port())
    operator, edge = issue_token("operator", sites=frozenset({SITE_A})), issue_token("edge", edge_id=EDGE_A)

    async def prepare() -> None:
        store = SqliteStore(settings.db_path)
        await store.open()
        await seed(store)
        for issued in (operator, edge):
            await store.add_token(issued.record)
        await store.close()

    asyncio.run(prepare())
    app = create_app(settings, planner=FakePlanner())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_config=None,
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{settings.port}", {"operator": operator.secret, "edge": edge.secret}
    finally:
        server.should_exit = True
        thread.join(15)


def test_health_auth_and_plan_over_real_http(server: tuple[str, dict[str, str]]) -> None:
    base, secrets = server
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json()["planner"] == "lazy"
        refused = client.get("/v1/edges")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
        bad = client.get("/v1/edges", headers={"Authorization": "Bearer agh_0000_nope"})
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_token"
        op = {"Authorization": f"Bearer {secrets['operator']}"}
        assert [e["edge_id"] for e in client.get("/v1/edges", headers=op).json()] == [EDGE_A]
        edge = {"Authorization": f"Bearer {secrets['edge']}", "X-Trace-ID": "edge-trace-1"}
        response = client.post("/v1/plan", json={"text": "turn everything off when I leave", "edge_id": EDGE_A,
                                                 "language": "en"}, headers=edge)
        assert response.status_code == 200, response.text
        assert response.headers["X-Trace-ID"] == "edge-trace-1"
        body = response.json()
        assert body["plan"]["steps"][0]["tool"] == "light.turn_off" and body["trace_id"] == "edge-trace-1"
        fetched = client.get(f"/v1/plans/{body['plan_id']}", headers=op).json()
        assert fetched["created_by"] == f"edge:{EDGE_A}" and fetched["status"] == "proposed"
        assert "autoglm_cloud_plans_total" in client.get("/metrics").text
