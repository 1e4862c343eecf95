"""Offline quantization: INT8 weight-only and bf16 checkpoints the runner loads; the CLI verb."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from autoglm.cli import app
from cloud.planner.quantize import quantize_checkpoint
from cloud.planner.runner import INT8_MANIFEST, load_model, weight_bytes
from shared.errors import ModelError
from tests.cloud.planner.checkpoints import build


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("glm") / "tiny", seed=1)


def test_int8_checkpoint_is_at_most_055x_the_bf16_bytes(checkpoint: Path, tmp_path: Path) -> None:
    bf16 = quantize_checkpoint(checkpoint, tmp_path / "bf16", "bf16")
    int8 = quantize_checkpoint(checkpoint, tmp_path / "int8", "int8")
    assert int8.bf16_weight_bytes == bf16.weight_bytes
    assert int8.weight_bytes <= 0.55 * bf16.weight_bytes
    assert int8.file_bytes < bf16.file_bytes
    manifest = json.loads((tmp_path / "int8" / INT8_MANIFEST).read_text())
    assert manifest["weight_bytes"] == int8.weight_bytes
    loaded = load_model(tmp_path / "int8")
    assert weight_bytes(loaded) == int8.weight_bytes
    assert type(loaded.model.embed_tokens.weight).__name__ == "Int8Tensor"


def test_int8_and_bf16_checkpoints_compute_nearly_the_same_logits(checkpoint: Path, tmp_path: Path) -> None:
    quantize_checkpoint(checkpoint, tmp_path / "bf16", "bf16")
    quantize_checkpoint(checkpoint, tmp_path / "int8", "int8")
    ids = torch.arange(2, 40).unsqueeze(0)
    with torch.inference_mode():
        ref = load_model(tmp_path / "bf16", dtype="bf16")(input_ids=ids).logits.float()
        got = load_model(tmp_path / "int8")(input_ids=ids).logits.float()
    similarity = torch.nn.functional.cosine_similarity(ref.flatten(), got.flatten(), dim=0)
    assert similarity > 0.98


def test_bad_input_is_a_model_error(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no config\.json"):
        quantize_checkpoint(tmp_path / "missing", tmp_path / "out", "int8")
    with pytest.raises(ModelError, match="int8 or bf16"):
        quantize_checkpoint(checkpoint, tmp_path / "out", "fp8")  # type: ignore[arg-type]


def test_cli_quantize_prints_the_report(checkpoint: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["planner", "quantize", "--model", str(checkpoint), "--dtype", "int8",
                                      "--out", str(tmp_path / "q")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["dtype"] == "int8" and report["ratio_to_bf16"] <= 0.55
    assert (tmp_path / "q" / INT8_MANIFEST).is_file()


def test_cli_quantize_refuses_a_missing_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["planner", "quantize", "--model", str(tmp_path), "--out", str(tmp_path / "q")])
    assert result.exit_code == 2
    assert "no config.json" in result.output


def test_a_tied_head_stays_tied_in_int8_so_a_small_vocabulary_model_also_halves(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[3] / "cloud" / "models" / "planner-tiny"  # tied embeddings
    int8 = quantize_checkpoint(shipped, tmp_path / "int8", "int8")
    assert int8.weight_bytes <= 0.55 * int8.bf16_weight_bytes, int8.as_dict()
    loaded = load_model(tmp_path / "int8")
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight  # one INT8 copy serves both
    assert weight_bytes(loaded) == int8.weight_bytes
    ids = torch.arange(3, 40).unsqueeze(0)
    with torch.inference_mode():
        ref = load_model(shipped, dtype="bf16")(input_ids=ids).logits.float()
        got = loaded(input_ids=ids).logits.float()
    assert torch.nn.functional.cosine_similarity(ref.flatten(), got.flatten(), dim=0) > 0.98
