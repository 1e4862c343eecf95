"""The model stage with the shipped model: verification, degraded mode, hot reload, slot resolution."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge.config import DEFAULT_MODEL_DIR
from edge.decision.model_stage import ModelStage
from edge.devices.registry import Registry
from edge.io.intent_model import IntentModel, decode_spans, load_intent_model
from shared.errors import ModelError
from tests.edge.devices.test_entity import LIGHT, entity


@pytest.fixture(scope="module")
def shipped() -> Path:
    assert (DEFAULT_MODEL_DIR / "manifest.json").exists(), (
        f"no shipped intent model in {DEFAULT_MODEL_DIR}: build it with `autoglm intent train`")
    return DEFAULT_MODEL_DIR


@pytest.fixture
def model_copy(tmp_path: Path, shipped: Path) -> Path:
    target = tmp_path / "intent"
    shutil.copytree(shipped, target)
    return target


def registry() -> Registry:
    reg = Registry()
    reg.put(entity("light", LIGHT))
    reg.put(entity("light", {**LIGHT, "unique_id": "l2", "name": "Bedroom Light", "aliases": {"zh-cn": ["卧室灯"]},
                             "suggested_area_aliases": {"zh-cn": "卧室"},
                             "device": {"identifiers": ["2"], "suggested_area": "Bedroom"}}))
    return reg


def test_shipped_model_loads_and_predicts(shipped: Path) -> None:
    model = IntentModel.load(shipped)
    assert model.predict("turn off the kitchen lights").label == "HassTurnOff"
    assert model.predict("what is the capital of france").label == "out_of_scope"
    prediction = model.predict("dim the bedroom lights a bit")
    assert prediction.label == "HassLightSet+down"
    assert 0.0 < prediction.confidence <= 1.0


def test_model_stage_resolves_slots_against_the_registry(model_copy: Path) -> None:
    stage = ModelStage(registry(), model_copy, load=load_intent_model)
    assert stage.reload_if_changed()
    match = stage.match("could you make the bed room lights dimmer", "en")
    assert match is not None and match.intent == "HassLightSet"
    assert match.slots["brightness_direction"] == "down" and match.slots.get("area") == "bedroom"
    assert match.model_version == stage.status().version
    assert stage.match("order me a large pizza", "en") is None


@pytest.mark.parametrize("damage", ["missing", "truncated", "wrong_version", "garbage_manifest"])
def test_bad_model_leaves_the_stage_degraded_with_a_clear_error(model_copy: Path, damage: str) -> None:
    manifest = json.loads((model_copy / "manifest.json").read_text())
    onnx = model_copy / manifest["model_file"]
    if damage == "missing":
        onnx.unlink()
    elif damage == "truncated":
        onnx.write_bytes(onnx.read_bytes()[:1000])
    elif damage == "wrong_version":
        manifest["format_version"] = 999
        (model_copy / "manifest.json").write_text(json.dumps(manifest))
    else:
        (model_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError):
        IntentModel.load(model_copy)
    stage = ModelStage(registry(), model_copy, load=load_intent_model)
    assert not stage.reload_if_changed()
    assert stage.model is None and stage.status().error
    assert stage.match("turn off the kitchen lights", "en") is None


def test_hot_reload_picks_up_a_good_model_and_keeps_it_over_a_bad_one(tmp_path: Path, shipped: Path) -> None:
    target = tmp_path / "intent"
    stage = ModelStage(registry(), target, load=load_intent_model)
    assert not stage.reload_if_changed()
    assert "missing" in (stage.status().error or "")
    shutil.copytree(shipped, target)
    assert stage.reload_if_changed()
    version = stage.status().version
    assert version is not None
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["files"][manifest["model_file"]] = "0" * 64  # a broken roll-out
    (target / "manifest.json").write_text(json.dumps(manifest))
    assert not stage.reload_if_changed()
    assert stage.status().version == version and stage.model is not None
    assert not stage.reload_if_changed()  # unchanged manifest: no reload attempt


def test_decode_spans() -> None:
    text = "turn on the kitchen light"
    offsets = [(0, 0), (0, 4), (5, 7), (8, 11), (12, 19), (20, 25), (0, 0)]
    tags = ["O", "O", "O", "O", "B-area", "B-name", "O"]
    spans = decode_spans(text, tags, offsets)
    assert [(s.slot, s.text) for s in spans] == [("area", "kitchen"), ("name", "light")]
    tags = ["O", "O", "O", "O", "B-name", "I-name", "O"]
    assert [(s.slot, s.text) for s in decode_spans(text, tags, offsets)] == [("name", "kitchen light")]
