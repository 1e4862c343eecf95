"""ONNX export of the student (torch.onnx) and its INT8 dynamic quantization (optimum's ORTQuantizer).

optimum's exporter only knows registered transformers architectures, not this two-head model, so the
graph comes from torch.onnx.export (the TorchScript exporter: the dynamo one needs onnxscript) and
optimum does the quantization.

Runtime contract of model.int8.onnx (what edge/io/intent_model.py relies on):
- inputs `input_ids`, `attention_mask`: int64 [batch, sequence]. Rows come from
  `Tokenizer.from_file("tokenizer.json").encode(text)` (.ids / .attention_mask; [CLS] ... [SEP], truncated
  to manifest.max_length by the file's own setting); a batch is right-padded to its longest row with
  [PAD] = id 0 and mask 0. Padding does not change a row's result beyond INT8 noise (activations are
  quantized per batch).
- outputs `intent_logits`: float32 [batch, len(manifest.intents)]; `slot_logits`: float32
  [batch, sequence, len(manifest.slot_labels)], BIO tags per token; tokens with offsets (0, 0) are
  [CLS]/[SEP]/padding and carry no tag.
- confidence = max softmax(intent_logits / manifest.temperature); act only when the label is not
  out_of_scope and confidence >= manifest.thresholds.high_risk (HIGH_RISK_INTENTS) or .default.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from transformers import PretrainedConfig

from autoglm.intent.model import IntentSlotModel

INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAMES = ("intent_logits", "slot_logits")
OPSET = 17


def export_onnx(model: IntentSlotModel, path: Path, *, opset: int = OPSET) -> Path:
    """Write the FP32 graph: int64 input_ids/attention_mask [batch, sequence] -> the two logit tensors."""
    model.eval()
    ids = torch.tensor([[2, 5, 6, 7, 3], [2, 8, 3, 0, 0]], dtype=torch.long)  # [B=2, T=5]
    mask = (ids != 0).long()
    axes = {"batch": 0, "sequence": 1}
    dynamic = {name: {i: n for n, i in axes.items()} for name in (*INPUT_NAMES, "slot_logits")}
    dynamic["intent_logits"] = {0: "batch"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is chosen on purpose
        torch.onnx.export(
            model,
            (ids, mask),
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return path


def fuse_transformer(fp32: Path, out: Path, *, heads: int, hidden: int) -> Path:
    """Fuse attention, GELU and layer norms with ONNX Runtime's transformer optimizer, then annotate shapes.

    Fusion measured 0.88 vs 1.04-1.22 ms INT8 p50 in one run and no gain in another (noisy, shared CPU);
    the shape annotations let the
    INT8 quantizer see the types of the fused (com.microsoft) operators' outputs.
    """
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    fused = optimize_model(str(fp32), model_type="bert", num_heads=heads, hidden_size=hidden,
                           optimization_options=FusionOptions("bert"), opt_level=1)
    model = SymbolicShapeInference.infer_shapes(fused.model, auto_merge=True)
    onnx.save(model, str(out))
    return out


def quantize_int8(
    fp32: Path, out: Path, *, config: PretrainedConfig | None = None, arch: str = "avx2", per_channel: bool = False
) -> Path:
    """Dynamic INT8 quantization of the MatMul/Gemm weights with optimum (`arch`: avx2, avx512_vnni, arm64)."""
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    qconfig = getattr(AutoQuantizationConfig, arch)(is_static=False, per_channel=per_channel)
    with tempfile.TemporaryDirectory() as tmp:
        written = ORTQuantizer(fp32, config=config).quantize(qconfig, Path(tmp), file_suffix="int8")
        (onnx_file,) = Path(written).glob("*.onnx")  # optimum names it from the stem: model.fp32 -> model.onnx
        shutil.move(str(onnx_file), out)
    return out


class OnnxIntentModel:
    """An onnxruntime session with the student's call signature, for evaluation on torch tensors."""

    def __init__(self, path: Path, *, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feeds = {
            "input_ids": input_ids.numpy().astype(np.int64),
            "attention_mask": attention_mask.numpy().astype(np.int64),
        }
        intent, slots = self.session.run(list(OUTPUT_NAMES), feeds)
        return torch.from_numpy(intent), torch.from_numpy(slots)


def latency_ms(path: Path, *, tokens: int = 16, threads: int = 1, runs: int = 300) -> dict[str, float]:
    """Median and p99 single-sentence latency of an ONNX model at `tokens` tokens."""
    model = OnnxIntentModel(path, threads=threads)
    ids = torch.full((1, tokens), 5, dtype=torch.long)
    ids[0, 0], ids[0, -1] = 2, 3
    mask = torch.ones_like(ids)
    for _ in range(20):
        model(ids, mask)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model(ids, mask)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50": statistics.median(times), "p99": times[min(len(times) - 1, int(0.99 * len(times)))]}
