"""The edge model API: versions on offer, file downloads (no path escapes), roll-out orders (published, audited)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from shared.envelope import Envelope
from shared.rollout import ORDER_TYPE, ModelOrder
from tests.cloud.conftest import EDGE_A, EDGE_B, SITE_A, Cloud
from tests.edge.io.test_model_rollout import make_version


class Orders:
    """Records published orders (the MQTT side is tested in tests/integration/test_model_rollout.py)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Envelope]] = []

    async def publish_order(self, edge_id: str, envelope: Envelope) -> None:
        self.sent.append((edge_id, envelope))


@pytest.fixture
def models(cloud: Cloud) -> Path:
    root: Path = cloud.app.state.services.settings.edge_models_root
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def orders(cloud: Cloud) -> Orders:
    cloud.app.state.services.model_orders = Orders()
    return cloud.app.state.services.model_orders  # type: ignore[no-any-return]


async def test_lists_valid_versions_with_their_files(cloud: Cloud, models: Path) -> None:
    viewer = await cloud.as_("viewer")
    assert (await cloud.client.get("/v1/edge-models", headers=viewer)).json() == []
    v2 = make_version(models, "v2")
    shutil.copytree(v2, models / "renamed")  # manifest names v2: not offered
    damaged = make_version(models, "damaged")
    (damaged / "tokenizer.json").write_text("{}")  # no longer matches the manifest's sha256
    listed = (await cloud.client.get("/v1/edge-models", headers=viewer)).json()
    assert [v["version"] for v in listed] == ["v2"]
    files = {f["name"]: f for f in listed[0]["files"]}
    assert set(files) == {"manifest.json", "model.int8.onnx", "tokenizer.json"}
    onnx = v2 / "model.int8.onnx"
    assert files["model.int8.onnx"] == {"name": "model.int8.onnx", "size": onnx.stat().st_size,
                                        "sha256": hashlib.sha256(onnx.read_bytes()).hexdigest()}
    assert listed[0]["url"] == "/v1/edge-models/v2/files" and listed[0]["manifest"]["version"] == "v2"


async def test_files_download_for_edges_and_nothing_else_is_reachable(cloud: Cloud, models: Path) -> None:
    v2 = make_version(models, "v2")
    (v2 / "notes.txt").write_text("not listed in the manifest")
    edge = await cloud.as_("edge", edge_id=EDGE_A)
    got = await cloud.client.get("/v1/edge-models/v2/files/model.int8.onnx", headers=edge)
    assert got.status_code == 200 and got.content == (v2 / "model.int8.onnx").read_bytes()
    assert got.headers["content-type"] == "application/octet-stream"
    statuses = {}
    for path in ("v404/files/manifest.json", "v2/files/notes.txt", "v2/files/..%2F..%2Fcloud.db",
                 "v2/files/.manifest.json", "..%2Fv2/files/manifest.json", "v2/files/%2Fetc%2Fpasswd"):
        statuses[path] = (await cloud.client.get(f"/v1/edge-models/{path}", headers=edge)).status_code
    # an encoded slash makes a path no route matches (404); a dot in front fails the name pattern (422)
    assert statuses == {"v404/files/manifest.json": 404, "v2/files/notes.txt": 404,
                        "v2/files/..%2F..%2Fcloud.db": 404, "v2/files/.manifest.json": 422,
                        "..%2Fv2/files/manifest.json": 404, "v2/files/%2Fetc%2Fpasswd": 404}
    assert (await cloud.client.get("/v1/edge-models/v2/files/..", headers=edge)).status_code in (404, 422)
    assert (await cloud.client.get("/v1/edge-models/v2/files/manifest.json",
                                   headers=await cloud.as_("auditor"))).status_code == 403


async def test_activate_order_is_published_with_the_files_and_audited(cloud: Cloud, models: Path,
                                                                      orders: Orders) -> None:
    make_version(models, "v2")
    answer = await cloud.client.post(f"/v1/edges/{EDGE_A}/models", json={"action": "activate", "version": "v2"},
                                     headers={**await cloud.as_("operator"), "X-Trace-ID": "rollout-1"})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["topic"] == f"autoglm/v1/edges/{EDGE_A}/models" and body["trace_id"] == "rollout-1"
    [(edge_id, envelope)] = orders.sent
    assert edge_id == EDGE_A and envelope.type == ORDER_TYPE and envelope.id == body["order_id"]
    order = ModelOrder.model_validate(envelope.payload)
    assert order.version == "v2" and order.url == "/v1/edge-models/v2/files"
    assert {f.name for f in order.files} == {"manifest.json", "model.int8.onnx", "tokenizer.json"}
    audit = (await cloud.client.get("/v1/audit?action=model.activate", headers=await cloud.as_("auditor"))).json()
    assert audit[0]["target"] == f"edge:{EDGE_A}" and audit[0]["detail"] == {
        "site": SITE_A, "action": "activate", "version": "v2", "order_id": body["order_id"]}


async def test_rollback_order_carries_no_files(cloud: Cloud, orders: Orders) -> None:
    answer = await cloud.client.post(f"/v1/edges/{EDGE_A}/models", json={"action": "rollback"},
                                     headers=await cloud.as_("admin"))
    assert answer.status_code == 202
    order = ModelOrder.model_validate(orders.sent[0][1].payload)
    assert order.action == "rollback" and order.files == () and order.url is None


@pytest.mark.parametrize(("edge_id", "body", "status", "code"), [
    (EDGE_A, {"action": "activate", "version": "v404"}, 404, "not_found"),
    ("edge-unknown", {"action": "rollback"}, 404, "not_found"),
    (EDGE_A, {"action": "activate"}, 422, "bad_request"),
    (EDGE_A, {"action": "upgrade", "version": "v2"}, 422, "bad_request"),
    (EDGE_A, {"action": "activate", "version": "../v2"}, 422, "bad_request"),
    (EDGE_A, {"action": "rollback", "extra": 1}, 422, "bad_request"),
])
async def test_bad_orders_are_refused(cloud: Cloud, models: Path, orders: Orders, edge_id: str,
                                      body: dict[str, str], status: int, code: str) -> None:
    make_version(models, "v2")
    answer = await cloud.client.post(f"/v1/edges/{edge_id}/models", json=body, headers=await cloud.as_("admin"))
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
    assert orders.sent == []


async def test_other_site_and_no_link(cloud: Cloud, models: Path) -> None:
    make_version(models, "v2")
    other = await cloud.as_("operator", sites={"site-b"})
    order = {"action": "activate", "version": "v2"}
    assert (await cloud.client.post(f"/v1/edges/{EDGE_A}/models", json=order, headers=other)).status_code == 404
    answer = await cloud.client.post(f"/v1/edges/{EDGE_B}/models", json=order, headers=other)
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "transport_error"
    audit = (await cloud.client.get("/v1/audit?action=model.order_failed", headers=await cloud.as_("admin"))).json()
    assert audit and "no edge link" in audit[0]["detail"]["error"]


async def test_openapi_documents_the_routes_and_their_errors(cloud: Cloud) -> None:
    spec = (await cloud.client.get("/openapi.json")).json()
    post = spec["paths"]["/v1/edges/{edge_id}/models"]["post"]
    assert {"202", "404", "422", "503"} <= set(post["responses"])
    get_file = spec["paths"]["/v1/edge-models/{version}/files/{name}"]["get"]
    assert {"200", "404", "422"} <= set(get_file["responses"])
    assert "application/octet-stream" in get_file["responses"]["200"]["content"]
    assert json.dumps(spec["paths"]["/v1/edge-models"]["get"]["responses"]["200"])
