"""End to end on a tiny data set: build() writes a verifiable model directory the edge can run without torch."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from tokenizers import Tokenizer

from autoglm.intent.distill import FitConfig
from autoglm.intent.model import IntentSlotModel
from autoglm.intent.train import MANIFEST_FILE, build, load_examples, sha256_file, with_overrides
from shared.intent import INTENT_LABELS, MODEL_FORMAT_VERSION, SLOT_LABELS, ModelManifest
from tests.autoglm.intent import write_tiny_dataset

TINY = with_overrides(
    "ci",
    name="test",
    teacher=FitConfig(epochs=1, batch_size=16, lr=2e-4, head_lr=2e-3, max_examples=64),
    student=FitConfig(epochs=8, batch_size=16, lr=2e-3, unk_dropout=0.05),
    vocab_size=2000,
    max_length=32,
    layers=2,
    hidden=64,
    heads=2,
    intermediate=128,
    benchmark=False,
    threads=1,  # tiny model: one thread is fastest, and 2 OpenMP threads crawl when the cores are shared
)


@dataclass(frozen=True)
class Built:
    data_dir: Path
    out_dir: Path
    build_dir: Path
    manifest: ModelManifest


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("intent")
    data_dir = write_tiny_dataset(root / "data", per_intent=24, seed=0)
    out_dir, build_dir = root / "models" / "intent", root / "build"
    manifest = build(data_dir, out_dir, profile=TINY, seed=0, progress=False, build_dir=build_dir)
    return Built(data_dir, out_dir, build_dir, manifest)


def encode_padded(tok: Tokenizer, texts: list[str]) -> dict[str, np.ndarray]:
    """What the edge does: encode each text, pad the batch to its longest row with [PAD] (id 0)."""
    encodings = [tok.encode(text) for text in texts]
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(texts), width), dtype=np.int64)
    mask = np.zeros((len(texts), width), dtype=np.int64)
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)] = e.ids
        mask[row, : len(e.ids)] = e.attention_mask
    return {"input_ids": ids, "attention_mask": mask}


def test_model_dir_holds_only_the_shipped_files_and_their_hashes(built: Built) -> None:
    names = sorted(p.name for p in built.out_dir.iterdir())
    assert names == ["manifest.json", "model.int8.onnx", "tokenizer.json"]
    manifest = ModelManifest.model_validate_json((built.out_dir / MANIFEST_FILE).read_text())
    assert manifest == built.manifest
    assert manifest.files == {name: sha256_file(built.out_dir / name) for name in ("model.int8.onnx", "tokenizer.json")}
    assert manifest.format_version == MODEL_FORMAT_VERSION
    assert re.fullmatch(r"intent-\d{8}-[0-9a-f]{8}", manifest.version)
    assert manifest.intents == list(INTENT_LABELS) and manifest.slot_labels == list(SLOT_LABELS)
    assert manifest.languages == ["en", "zh-cn"]
    assert manifest.max_length == 32
    assert manifest.data_hash == json.loads((built.data_dir / "data_card.json").read_text())["data_hash"]
    assert sum(p.stat().st_size for p in built.out_dir.iterdir()) < 30_000_000


def test_calibration_in_the_manifest(built: Built) -> None:
    m = built.manifest
    assert m.temperature > 0
    assert 0 <= m.thresholds.default <= m.thresholds.high_risk <= 1
    assert m.metrics["calib_oos_accept_default"] <= 0.02


def test_metrics_report_teacher_student_and_int8(built: Built) -> None:
    metrics = built.manifest.metrics
    for key in ("teacher_intent_acc", "teacher_slot_f1", "student_intent_acc", "student_slot_f1", "int8_agreement"):
        assert 0 <= float(metrics[key]) <= 1, key
    assert float(metrics["student_intent_acc"]) > 0.6  # chance is 1/18
    assert float(metrics["int8_agreement"]) >= 0.95
    assert metrics["model_bytes"] == (built.out_dir / "model.int8.onnx").stat().st_size
    assert float(metrics["train_seconds"]) > 0


def test_build_dir_keeps_the_torch_checkpoint_and_fp32_graph(built: Built) -> None:
    assert (built.build_dir / "model.fp32.onnx").is_file()
    student = IntentSlotModel.from_pretrained(str(built.build_dir / "student"))
    assert student.config.num_hidden_layers == 2 and student.config.hidden_size == 64
    shipped = (built.out_dir / "tokenizer.json").read_bytes()
    assert (built.build_dir / "student" / "tokenizer.json").read_bytes() == shipped


def test_onnx_graph_signature(built: Built) -> None:
    graph = onnx.load(str(built.out_dir / "model.int8.onnx")).graph
    inputs = {i.name: i.type.tensor_type for i in graph.input}
    assert list(inputs) == ["input_ids", "attention_mask"]
    for tensor in inputs.values():
        assert tensor.elem_type == onnx.TensorProto.INT64
        assert [d.dim_param for d in tensor.shape.dim] == ["batch", "sequence"]
    assert [o.name for o in graph.output] == ["intent_logits", "slot_logits"]
    assert {op.op_type for op in graph.node} >= {"MatMulInteger", "DynamicQuantizeLinear"}


def test_int8_onnx_matches_torch_argmax_with_runtime_style_inputs(built: Built) -> None:
    tok = Tokenizer.from_file(str(built.out_dir / "tokenizer.json"))
    texts = [ex.text for ex in load_examples(built.data_dir / "calib.jsonl")]
    feeds = encode_padded(tok, texts)
    session = ort.InferenceSession(str(built.out_dir / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    intent, slots = session.run(["intent_logits", "slot_logits"], feeds)
    assert intent.shape == (len(texts), len(INTENT_LABELS))
    assert slots.shape == (*feeds["input_ids"].shape, len(SLOT_LABELS))

    student = IntentSlotModel.from_pretrained(str(built.build_dir / "student")).eval()
    with torch.inference_mode():
        ref, _ = student(torch.from_numpy(feeds["input_ids"]), torch.from_numpy(feeds["attention_mask"]))
    agreement = float((intent.argmax(-1) == ref.numpy().argmax(-1)).mean())
    assert agreement >= 0.95

    # Negative control: an untrained student with the same shape does not agree.
    torch.manual_seed(123)
    random_student = IntentSlotModel(student.config).eval()
    with torch.inference_mode():
        other, _ = random_student(torch.from_numpy(feeds["input_ids"]), torch.from_numpy(feeds["attention_mask"]))
    assert float((intent.argmax(-1) == other.numpy().argmax(-1)).mean()) < 0.5


def test_padding_does_not_change_a_sentence_s_logits(built: Built) -> None:
    tok = Tokenizer.from_file(str(built.out_dir / "tokenizer.json"))
    session = ort.InferenceSession(str(built.out_dir / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    short, long = "turn on the lamp", "please turn the ceiling light in the living room on"
    alone, _ = session.run(None, encode_padded(tok, [short]))
    batched, _ = session.run(None, encode_padded(tok, [short, long]))
    np.testing.assert_allclose(batched[0], alone[0], atol=0.05)


def test_build_is_deterministic_for_a_seed(built: Built, tmp_path: Path) -> None:
    again = build(built.data_dir, tmp_path / "intent", profile=TINY, seed=0, progress=False, build_dir=tmp_path / "b")
    assert again.files == built.manifest.files
    assert again.temperature == built.manifest.temperature


def test_build_refuses_to_overwrite_a_directory_that_is_not_a_model(tmp_path: Path, built: Built) -> None:
    target = tmp_path / "precious"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        build(built.data_dir, target, profile=TINY, progress=False, build_dir=tmp_path / "b")
    assert (target / "notes.txt").read_text() == "keep me"
