"""The demo's cloud: the real API under uvicorn, its MQTT link to the demo broker, and the tiny GLM planner."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cloud.auth import issue_token
from cloud.bus import BusSettings
from cloud.sqlite_store import SqliteStore
from shared.errors import AutoGLMError, TransportError

log = logging.getLogger(__name__)

#: Where the demo trains a planner when neither a trained nor a shipped one exists.
DEFAULT_PLANNER_DIR = Path("var/planner-tiny")
SITE = "home"
TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    """What happened to one request sent to the cloud planner."""

    status: str
    steps: list[dict[str, Any]]
    detail: str
    latency_ms: float


@dataclass(frozen=True, slots=True)
class DemoCloud:
    """The running cloud API and an operator token for it."""

    url: str
    token: str
    edge_id: str

    async def plan(self, text: str, *, language: str, confirm: bool = False, timeout: float = 60.0) -> PlanOutcome:
        """Ask the planner, run the plan (confirming sensitive steps only when told), wait for the end."""
        started = time.perf_counter()
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout) as client:
            made = await client.post("/v1/plan", json={"text": text, "edge_id": self.edge_id, "language": language})
            if made.status_code != 200:
                return PlanOutcome("refused", [], _error(made), _ms(started))
            body = made.json()
            steps = body["plan"]["steps"]
            run = await client.post(f"/v1/plans/{body['plan_id']}/run", json={"confirm": confirm})
            if run.status_code >= 400:
                code = run.json().get("error", {}).get("code", "")
                status = "needs_confirmation" if code == "confirmation_required" else "refused"
                return PlanOutcome(status, steps, _error(run), _ms(started))
            deadline = time.monotonic() + timeout
            while True:
                got = (await client.get(f"/v1/plans/{body['plan_id']}")).json()
                if got["status"] in TERMINAL or time.monotonic() > deadline:
                    return PlanOutcome(got["status"], steps, got.get("error") or "", _ms(started))
                await asyncio.sleep(0.05)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def ensure_planner(planner_dir: Path, *, train: bool) -> None:
    """Train the tiny planner (with a progress bar) when `train` and `planner_dir` holds none yet."""
    if (planner_dir / "manifest.json").is_file():
        return
    if not train:
        print(f"no tiny planner in {planner_dir}: the cloud runs without a planner (plans answer 503); train one "
              "with `autoglm planner train-tiny` or `autoglm demo --train-planner`", flush=True)
        return
    from cloud.planner.tiny.train import PROFILES, train_tiny

    print(f"training the tiny GLM planner into {planner_dir} (progress below)", flush=True)
    train_tiny(planner_dir, profile=PROFILES["full"], progress=True)


@contextlib.asynccontextmanager
async def running_cloud(*, mqtt_port: int, http_port: int, workdir: Path, edge_id: str,
                        planner_dir: Path | None = None, train_planner: bool = False) -> AsyncIterator[DemoCloud]:
    """Start the cloud API (planner loaded, twin sync on the demo broker); stop it on exit."""
    import uvicorn

    from cloud.app import create_app
    from cloud.metrics import CloudMetrics
    from cloud.mqtt_link import open_mqtt_link
    from cloud.planner.backend import default_model_dir, open_planner
    from cloud.settings import CloudSettings, PlannerSettings

    if planner_dir is None and (default_model_dir() / "manifest.json").is_file():
        planner_dir = default_model_dir()
    planner_dir = planner_dir or DEFAULT_PLANNER_DIR
    await asyncio.to_thread(ensure_planner, planner_dir, train=train_planner)
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    settings = CloudSettings(host="127.0.0.1", port=http_port, db_path=workdir / "cloud.db",
                             planner=PlannerSettings(model_dir=planner_dir, lazy_load=False),
                             mqtt=BusSettings(host="127.0.0.1", port=mqtt_port, client_id=f"autoglm-demo-{edge_id}"))
    token = await _seed(settings.db_path, edge_id)
    metrics = CloudMetrics()
    app = create_app(settings, metrics=metrics,
                     planner_factory=lambda: open_planner(settings.planner, registry=metrics.registry),
                     link_factory=lambda store: open_mqtt_link(settings.mqtt, store, step_timeout_s=15.0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=http_port, log_config=None,
                                           access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(), name="demo-cloud")
    try:
        deadline = time.monotonic() + 120
        while not server.started:
            if task.done() or time.monotonic() > deadline:
                raise TransportError(f"the cloud API did not start on 127.0.0.1:{http_port} (port in use?)")
            await asyncio.sleep(0.05)
        yield DemoCloud(f"http://127.0.0.1:{http_port}", token, edge_id)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, AutoGLMError, SystemExit):
            await asyncio.wait_for(task, 15)


async def _seed(db: Path, edge_id: str) -> str:
    """Register the demo's edge and make an operator token for the demo to use."""
    store = SqliteStore(db)
    await store.open()
    try:
        await store.upsert_edge(edge_id, site=SITE, name="demo home")
        issued = issue_token("operator", name="demo")
        await store.add_token(issued.record)
        return issued.secret
    finally:
        await store.close()
