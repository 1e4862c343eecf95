"""Model roll-out end to end: real Mosquitto, the cloud app under uvicorn with its MQTT link, an in-process edge
with the simulated home. The operator's API call becomes a retained order; the edge downloads the version from
the cloud over HTTP, verifies, switches, and its answer lands in the cloud's audit log; decisions carry the
model version serving."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.publish as mqtt_publish
import pytest

from autoglm.simhome import SimulatedHome
from bench.reliability.procs import free_port
from cloud.app import create_app
from cloud.auth import issue_token
from cloud.bus import BusSettings
from cloud.mqtt_link import open_mqtt_link
from cloud.settings import CloudSettings, PlannerSettings
from cloud.sqlite_store import SqliteStore
from edge.config import EdgeSettings
from edge.daemon import EdgeDaemon
from edge.say import say
from shared.codec import encode
from shared.envelope import Envelope
from shared.rollout import ORDER_TYPE, ModelAction, ModelFile, ModelOrder, files_path
from shared.topics import EdgeChannel, edge_topic
from tests.conftest import BrokerInfo
from tests.edge.io.test_model_rollout import BASE_VERSION, make_version
from tests.integration.conftest import EDGE_ID, edge_settings, serve_app, start_edge, wait_for

pytestmark = pytest.mark.integration

#: Templates do not understand this; the intent model does ("HassLightSet" down), so the decision names its version.
MODEL_ONLY = "could you make the kitchen light a bit dimmer"


@contextlib.asynccontextmanager
async def serve_cloud(broker: BrokerInfo, db: Path, models: Path, port: int) -> AsyncIterator[None]:
    bus = BusSettings(host=broker.host, port=broker.port, client_id=f"cloud-{random.getrandbits(32)}",
                      reconnect_min_s=0.05)
    settings = CloudSettings(db_path=db, planner=PlannerSettings(lazy_load=True), mqtt=bus, edge_models_dir=models)
    app = create_app(settings, store=SqliteStore(db), link_factory=lambda s: open_mqtt_link(bus, s))
    async with serve_app(app, port):
        yield


class Operator:
    """The operator's side: the cloud API with an admin token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def order(self, **body: Any) -> httpx.Response:
        return await self.client.post(f"/v1/edges/{EDGE_ID}/models", json=body)

    async def answers(self) -> list[dict[str, Any]]:
        """The edge's model.* answers in the audit log, oldest first."""
        entries: list[dict[str, Any]] = []
        for action in ("model.activated", "model.rejected"):
            entries += (await self.client.get("/v1/audit", params={"action": action})).json()
        return sorted(entries, key=lambda e: e["id"])

    async def answer(self, seen: int) -> dict[str, Any]:
        """Wait for answer number `seen + 1`."""
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:
            found = await self.answers()
            if len(found) > seen:
                assert len(found) == seen + 1, found
                return found[-1]
            await asyncio.sleep(0.1)
        raise AssertionError(f"no answer {seen + 1} from the edge")


async def model_version(broker: BrokerInfo) -> str | None:
    decision = await asyncio.to_thread(say, MODEL_ONLY, edge_id=EDGE_ID, host=broker.host, port=broker.port,
                                       timeout=15)
    assert decision.outcome == "done", decision.reply
    return decision.model_version


def corrupt_version(models: Path, version: str) -> None:
    """A version the cloud offers (hashes agree with its manifest) whose graph ONNX Runtime cannot load."""
    directory = make_version(models, version)
    (directory / "model.int8.onnx").write_bytes(b"not an onnx graph" * 100)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["files"]["model.int8.onnx"] = hashlib.sha256((directory / "model.int8.onnx").read_bytes()).hexdigest()
    (directory / "manifest.json").write_text(json.dumps(manifest))


async def test_roll_out_reject_roll_back_restart_and_offline_edge(broker: BrokerInfo, tmp_path: Path) -> None:
    db, models = tmp_path / "cloud.db", tmp_path / "edge-models"
    make_version(models, "v2")
    corrupt_version(models, "v3")
    setup = SqliteStore(db)
    await setup.open()
    await setup.upsert_edge(EDGE_ID, site="home", name="test home")
    edge_token, admin_token = issue_token("edge", edge_id=EDGE_ID), issue_token("admin")
    await setup.add_token(edge_token.record)
    await setup.add_token(admin_token.record)
    await setup.close()
    port = free_port()
    settings: EdgeSettings = edge_settings(broker, tmp_path / "edge", model_poll_s=0.2,
                                           cloud={"url": f"http://127.0.0.1:{port}", "token": edge_token.secret})
    home = SimulatedHome(broker.host, broker.port, sensor_interval=60)
    await asyncio.to_thread(home.start)
    headers = {"Authorization": f"Bearer {admin_token.secret}"}
    try:
        async with serve_cloud(broker, db, models, port), \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as client:
            op = Operator(client)
            async with start_edge(settings) as edge:
                await wait_for(lambda: len(edge.registry) >= len(home.device_ids), what="discovery")
                assert await model_version(broker) == BASE_VERSION

                # activate v2: downloaded over HTTP, verified, switched; the answer reaches the audit log
                assert (await op.order(action="activate", version="v2")).status_code == 202
                answer = await op.answer(0)
                assert answer["action"] == "model.activated" and answer["detail"]["active"] == "v2"
                assert answer["detail"]["previous"] == BASE_VERSION
                assert await model_version(broker) == "v2"

                # a version ONNX Runtime cannot load: rejected, v2 keeps serving
                assert (await op.order(action="activate", version="v3")).status_code == 202
                answer = await op.answer(1)
                assert answer["action"] == "model.rejected" and "cannot load model v3" in answer["detail"]["reason"]
                assert await model_version(broker) == "v2"

                # an order whose hash does not match what the cloud serves (a file changed after the order)
                files = [ModelFile(**{**f, "sha256": "0" * 64} if f["name"] == "tokenizer.json" else f)
                         for f in _files(make_version(models, "v4"))]
                forged = ModelOrder(action=ModelAction.ACTIVATE, version="v4", url=files_path("v4"), files=tuple(files))
                envelope = Envelope(source="cloud", type=ORDER_TYPE, payload=forged.model_dump(mode="json"))
                await asyncio.to_thread(mqtt_publish.single, edge_topic(EDGE_ID, EdgeChannel.MODELS),
                                        encode(envelope), qos=1, retain=True, hostname=broker.host, port=broker.port)
                answer = await op.answer(2)
                assert "tokenizer.json does not match the sha256" in answer["detail"]["reason"]
                assert not (settings.models_root / "v4").exists()

                # an unknown version never leaves the cloud
                unknown = await op.order(action="activate", version="v404")
                assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"

                # rollback: back to the shipped model
                assert (await op.order(action="rollback")).status_code == 202
                answer = await op.answer(3)
                assert answer["action"] == "model.activated" and answer["detail"]["active"] == BASE_VERSION
                assert await model_version(broker) == BASE_VERSION

                # roll forward again: v2 is still on disk, and it is what a restart keeps
                assert (await op.order(action="activate", version="v2")).status_code == 202
                assert (await op.answer(4))["detail"]["active"] == "v2"
                orders = list(edge.rollout.state.orders)

            # restart: the active version is kept; the retained order comes again and changes nothing
            async with start_edge(settings) as edge:
                assert edge.model.status().version == "v2"
                await wait_for(lambda: len(edge.registry) >= len(home.device_ids), what="discovery")
                assert await model_version(broker) == "v2"
                await asyncio.sleep(1.0)  # the retained order has long arrived by now
                assert edge.rollout.state.orders == orders
                assert len(await op.answers()) == 5
                assert "autoglm_edge_model_rollouts" not in _samples(edge)  # the retained order counted nothing

            # an edge that was offline gets the latest (retained) order when it comes back
            assert (await op.order(action="rollback", version=BASE_VERSION)).status_code == 202
            async with start_edge(settings) as edge:
                answer = await op.answer(5)
                assert answer["detail"]["active"] == BASE_VERSION and answer["detail"]["changed"] is True
                await wait_for(lambda: len(edge.registry) >= len(home.device_ids), what="discovery")
                assert await model_version(broker) == BASE_VERSION
                assert _samples(edge)["autoglm_edge_model_rollouts"] == {"rolled_back": 1.0}
                assert _samples(edge)["autoglm_edge_model_info"] == {BASE_VERSION: 1.0}
    finally:
        await asyncio.to_thread(home.stop)


def _files(directory: Path) -> list[dict[str, Any]]:
    return [{"name": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "size": p.stat().st_size}
            for p in sorted(directory.iterdir())]


def _samples(edge: EdgeDaemon) -> dict[str, dict[str, float]]:
    """Model metrics with samples above 0, by metric name and label value (outcomes are exported at 0)."""
    found: dict[str, dict[str, float]] = {}
    for family in edge.metrics.registry.collect():
        if family.name.startswith("autoglm_edge_model_"):
            for sample in family.samples:
                if sample.name.endswith("_created") or sample.value == 0:
                    continue
                found.setdefault(family.name, {})[next(iter(sample.labels.values()))] = sample.value
    return found
