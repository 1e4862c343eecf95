"""Model roll-out at the edge: fetch over HTTP (httpx MockTransport serving real model files), verify, load-test,
switch atomically, persist, roll back; every failure keeps the old model serving."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from edge.config import DEFAULT_MODEL_DIR
from edge.decision.model_stage import ModelStage
from edge.devices.registry import Registry
from edge.io.intent_model import load_intent_model
from edge.io.model_rollout import STATE_FILE, HttpFetcher, ModelRollout, active_dir, read_state
from shared.rollout import MANIFEST_FILE, ModelAction, ModelFile, ModelOrder, files_path

BASE_VERSION = json.loads((DEFAULT_MODEL_DIR / MANIFEST_FILE).read_text())["version"]


def make_version(root: Path, version: str) -> Path:
    """A model version built from the shipped model: the same weights under a new manifest version."""
    target = root / version
    shutil.copytree(DEFAULT_MODEL_DIR, target)
    manifest = json.loads((target / MANIFEST_FILE).read_text())
    manifest["version"] = version
    (target / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    return target


def file_list(directory: Path) -> tuple[ModelFile, ...]:
    return tuple(ModelFile(name=p.name, sha256=hashlib.sha256(p.read_bytes()).hexdigest(), size=p.stat().st_size)
                 for p in sorted(directory.iterdir()))


def activate(directory: Path, version: str | None = None) -> ModelOrder:
    version = version or directory.name
    return ModelOrder(action=ModelAction.ACTIVATE, version=version, files=file_list(directory), url=files_path(version))


class Served:
    """The cloud's file route over a directory of versions; counts requests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        assert request.headers["Authorization"] == "Bearer agh_x_secret"
        _, version, _, name = request.url.path.removeprefix("/v1/").split("/")
        path = self.root / version / name
        return httpx.Response(200, content=path.read_bytes()) if path.is_file() else httpx.Response(404)


@pytest.fixture
def cloud(tmp_path: Path) -> Served:
    return Served(tmp_path / "cloud")


@pytest.fixture
def stage() -> ModelStage:
    stage = ModelStage(Registry(), DEFAULT_MODEL_DIR, load=load_intent_model)
    assert stage.reload_if_changed()
    return stage


def rollout(tmp_path: Path, stage: ModelStage, cloud: Served, **kwargs: object) -> ModelRollout:
    fetcher = HttpFetcher("http://cloud.test", SecretStr("agh_x_secret"), transport=httpx.MockTransport(cloud))
    return ModelRollout(tmp_path / "edge" / "models", stage, fetcher, **kwargs)  # type: ignore[arg-type]


async def test_activate_downloads_verifies_switches_and_persists(tmp_path: Path, stage: ModelStage,
                                                                 cloud: Served) -> None:
    outcomes: list[tuple[str, str | None]] = []
    r = rollout(tmp_path, stage, cloud, on_outcome=lambda o, v: outcomes.append((o, v)))
    v2 = make_version(cloud.root, "v2")
    result = await r.handle(activate(v2), "order-1")
    assert result is not None and result.reason is None and result.changed
    assert (result.active, result.previous) == ("v2", BASE_VERSION)
    assert stage.status().version == "v2" and stage.directory == r.root / "v2"
    assert sorted(p.name for p in r.root.iterdir()) == [STATE_FILE, "v2"]  # no temp directory left
    state = read_state(r.root)
    assert state.active is not None and state.active.version == "v2"
    assert state.previous is not None and state.previous.dir == DEFAULT_MODEL_DIR
    assert outcomes == [("activated", "v2")]
    # a restart loads what was active
    assert active_dir(r.root) == r.root / "v2"
    restarted = ModelStage(Registry(), active_dir(r.root), load=load_intent_model)
    assert restarted.reload_if_changed() and restarted.status().version == "v2"


async def test_redelivered_order_and_order_for_the_active_version_change_nothing(tmp_path: Path, stage: ModelStage,
                                                                                 cloud: Served) -> None:
    r = rollout(tmp_path, stage, cloud)
    order = activate(make_version(cloud.root, "v2"))
    assert await r.handle(order, "order-1") is not None
    fetched = cloud.requests
    assert await r.handle(order, "order-1") is None  # the retained order again
    again = await r.handle(order, "order-2")  # a new order for the version already serving
    assert again is not None and not again.changed and again.reason is None and again.active == "v2"
    assert cloud.requests == fetched
    # a fresh process over the same directory remembers the order id
    assert await rollout(tmp_path, stage, cloud).handle(order, "order-1") is None


async def test_rollback_returns_to_the_previous_version_and_toggles(tmp_path: Path, stage: ModelStage,
                                                                    cloud: Served) -> None:
    r = rollout(tmp_path, stage, cloud)
    await r.handle(activate(make_version(cloud.root, "v2")), "o1")
    back = await r.handle(ModelOrder(action=ModelAction.ROLLBACK), "o2")
    assert back is not None and back.reason is None and back.active == BASE_VERSION and back.previous == "v2"
    assert stage.status().version == BASE_VERSION and stage.directory == DEFAULT_MODEL_DIR
    assert active_dir(r.root) == DEFAULT_MODEL_DIR
    wrong = await r.handle(ModelOrder(action=ModelAction.ROLLBACK, version="v9"), "o3")
    assert wrong is not None and wrong.reason == "the previous version is v2, not v9"
    forth = await r.handle(ModelOrder(action=ModelAction.ROLLBACK, version="v2"), "o4")
    assert forth is not None and forth.active == "v2" and stage.status().version == "v2"


async def test_rollback_without_a_previous_version_is_rejected(tmp_path: Path, stage: ModelStage,
                                                               cloud: Served) -> None:
    result = await rollout(tmp_path, stage, cloud).handle(ModelOrder(action=ModelAction.ROLLBACK), "o1")
    assert result is not None and result.reason == "no previous version to roll back to"
    assert stage.status().version == BASE_VERSION


@pytest.mark.parametrize("damage", ["wrong_hash", "wrong_size", "corrupt_onnx", "unknown_version",
                                    "manifest_names_other_version"])
async def test_a_bad_version_is_rejected_and_the_old_model_keeps_serving(tmp_path: Path, stage: ModelStage,
                                                                         cloud: Served, damage: str) -> None:
    outcomes: list[str] = []
    r = rollout(tmp_path, stage, cloud, on_outcome=lambda o, _v: outcomes.append(o))
    v2 = make_version(cloud.root, "v2")
    order = activate(v2)
    onnx = v2 / "model.int8.onnx"
    if damage == "wrong_hash":  # the cloud serves other bytes than the order names
        onnx.write_bytes(bytes(b ^ 1 for b in onnx.read_bytes()[:64]) + onnx.read_bytes()[64:])
    elif damage == "wrong_size":
        onnx.write_bytes(onnx.read_bytes() + b"\0")
    elif damage == "corrupt_onnx":  # hashes match the order, but the graph is garbage (manifest updated too)
        onnx.write_bytes(b"not an onnx graph" * 100)
        manifest = json.loads((v2 / MANIFEST_FILE).read_text())
        manifest["files"]["model.int8.onnx"] = hashlib.sha256(onnx.read_bytes()).hexdigest()
        (v2 / MANIFEST_FILE).write_text(json.dumps(manifest))
        order = activate(v2)
    elif damage == "unknown_version":
        order = activate(v2, "v404")
    else:
        shutil.copytree(v2, cloud.root / "v3")
        order = activate(cloud.root / "v3")
    result = await r.handle(order, "o1")
    assert result is not None and result.reason and not result.changed
    reason = {"wrong_hash": "does not match the sha256", "wrong_size": "larger than",
              "corrupt_onnx": "cannot load model", "unknown_version": "HTTP 404",
              "manifest_names_other_version": "names version v2"}[damage]
    assert reason in result.reason
    assert result.active == BASE_VERSION and stage.status().version == BASE_VERSION
    assert stage.directory == DEFAULT_MODEL_DIR and stage.model is not None
    assert [p.name for p in r.root.iterdir()] == [STATE_FILE]  # nothing half-downloaded left; order id kept
    assert read_state(r.root).active is None
    assert outcomes == ["rejected"]


async def test_no_cloud_and_unwritable_state_are_rejected(tmp_path: Path, stage: ModelStage, cloud: Served) -> None:
    v2 = make_version(cloud.root, "v2")
    offline = ModelRollout(tmp_path / "offline", stage, None)
    result = await offline.handle(activate(v2), "o1")
    assert result is not None and result.reason and "edge.cloud.url" in result.reason
    r = rollout(tmp_path, stage, cloud)
    (r.root / STATE_FILE).mkdir(parents=True)  # active.json cannot be replaced
    result = await r.handle(activate(v2), "o2")
    assert result is not None and result.reason and "cannot write" in result.reason
    assert stage.status().version == BASE_VERSION


async def test_at_most_three_versions_stay_on_disk(tmp_path: Path, stage: ModelStage, cloud: Served) -> None:
    r = rollout(tmp_path, stage, cloud)
    for i, version in enumerate(("v2", "v3", "v4", "v5")):
        result = await r.handle(activate(make_version(cloud.root, version)), f"o{i}")
        assert result is not None and result.reason is None
    kept = sorted(p.name for p in r.root.iterdir() if p.is_dir())
    assert len(kept) == 3 and {"v5", "v4"} <= set(kept)
    back = await r.handle(ModelOrder(action=ModelAction.ROLLBACK), "back")
    assert back is not None and back.active == "v4"
