"""Offline quantization of a planner checkpoint: INT8 weight-only (torchao) or bf16, loadable by the runner.

transformers' torchao integration cannot save these tensors here, so an INT8 checkpoint is the torchao state
dict in `model.int8.pt` (loaded back with `torch.load(weights_only=True)`), the model config, the tokenizer and
`quantization.json` (format, compute dtype, weight bytes). Every Linear and the embedding are INT8 with one scale
per row; norms stay bf16.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from cloud.planner.runner import INT8_FORMAT, INT8_MANIFEST, INT8_WEIGHTS, quantize_int8, weight_bytes
from shared.errors import ModelError

QuantDtype = Literal["int8", "bf16"]
#: Manifest of a bf16 checkpoint written here (the INT8 one is runner.INT8_MANIFEST).
BF16_MANIFEST = "autoglm_checkpoint.json"


@dataclass(frozen=True, slots=True)
class QuantizeReport:
    """What a quantization wrote: weight bytes in memory and on disk, against the source in bf16."""

    out_dir: str
    dtype: str
    weight_bytes: int
    bf16_weight_bytes: int
    file_bytes: int

    @property
    def ratio_to_bf16(self) -> float:
        """Weight bytes over the same weights' bf16 bytes."""
        return self.weight_bytes / self.bf16_weight_bytes

    def as_dict(self) -> dict[str, object]:
        """The report as JSON-ready data."""
        return {**asdict(self), "ratio_to_bf16": round(self.ratio_to_bf16, 4)}


def quantize_checkpoint(model_dir: Path, out_dir: Path, dtype: QuantDtype) -> QuantizeReport:
    """Write `model_dir`'s model to `out_dir` as INT8 weight-only or bf16; raises ModelError on bad input."""
    if dtype not in ("int8", "bf16"):
        raise ModelError(f"dtype must be int8 or bf16, got {dtype!r}")
    if not (model_dir / "config.json").is_file():
        raise ModelError(f"{model_dir}: no config.json; give a checkpoint directory written by save_pretrained")
    if out_dir.resolve() == model_dir.resolve():
        raise ModelError("--out must differ from --model")
    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16)
        model.eval()  # type: ignore[no-untyped-call]
        tokenizer = AutoTokenizer.from_pretrained(model_dir)  # type: ignore[no-untyped-call]
    except (OSError, ValueError) as exc:
        raise ModelError(f"{model_dir}: cannot load the model: {exc}") from exc
    bf16_bytes = weight_bytes(model)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    tokenizer.save_pretrained(out_dir)
    if dtype == "bf16":
        model.save_pretrained(out_dir)
        manifest = {"format": "bf16", "weight_bytes": bf16_bytes, "source": str(model_dir)}
        (out_dir / BF16_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        files = sum(p.stat().st_size for p in out_dir.glob("*.safetensors"))
        return QuantizeReport(str(out_dir), dtype, bf16_bytes, bf16_bytes, files)
    quantize_int8(model)
    int8_bytes = weight_bytes(model)
    model.config.save_pretrained(out_dir)
    if model.generation_config is not None:
        model.generation_config.save_pretrained(out_dir)
    torch.save(model.state_dict(), out_dir / INT8_WEIGHTS)
    manifest = {
        "format": INT8_FORMAT,
        "scheme": "torchao Int8WeightOnlyConfig, per-row scales; Linear and Embedding",
        "compute_dtype": "bf16",
        "weights": INT8_WEIGHTS,
        "weight_bytes": int8_bytes,
        "bf16_weight_bytes": bf16_bytes,
        "source": str(model_dir),
    }
    (out_dir / INT8_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return QuantizeReport(str(out_dir), dtype, int8_bytes, bf16_bytes, (out_dir / INT8_WEIGHTS).stat().st_size)
