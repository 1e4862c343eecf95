"""Intent latency on one thread: ONNX INT8 vs ONNX FP32 vs torch eager (same weights) vs hassil.

Usage: python bench/intent_latency.py [--model-dir edge/models/intent] [--build-dir DIR] [--inputs FILE.jsonl ...]
The last line of stdout is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from bench.stats import latency_ms  # noqa: E402
from edge.decision.pipeline import normalize_text  # noqa: E402
from edge.io.intent_model import IntentModel  # noqa: E402

DEFAULT_INPUTS = [ROOT.parent / "shared" / "eval" / n for n in
                  ("slurp_iot_devel.jsonl", "ha_tests_en.jsonl", "ha_tests_zh_cn.jsonl")]


def texts_from(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        if path.exists():
            out += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line]
    if not out:
        out = [line.split("=>")[0].strip().removeprefix("!confirm ") for line in
               (ROOT / "autoglm" / "demo" / "script.txt").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    return [normalize_text(t) for t in out]


def timed(fn: Callable[[str], Any], texts: list[str], repeats: int) -> tuple[list[float], list[Any]]:
    for text in texts[:20]:  # warm-up
        fn(text)
    times, outputs = [], []
    for _ in range(repeats):
        for text in texts:
            start = time.perf_counter()
            result = fn(text)
            times.append((time.perf_counter() - start) * 1000)
            outputs.append(result)
    return times, outputs[: len(texts)]


def ort_runner(model_file: Path, model: IntentModel) -> Callable[[str], int]:
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])

    def run(text: str) -> int:
        enc = model.tokenizer.encode(text)
        logits = session.run(["intent_logits"], {"input_ids": np.asarray([enc.ids], dtype=np.int64),
                                                 "attention_mask": np.asarray([enc.attention_mask], dtype=np.int64)})
        return int(logits[0][0].argmax())
    return run


def torch_runner(torch_dir: Path, model: IntentModel) -> Callable[[str], int]:
    import torch

    from autoglm.intent.model import IntentSlotModel

    torch.set_num_threads(1)
    net = IntentSlotModel.from_pretrained(str(torch_dir)).eval()

    def run(text: str) -> int:
        enc = model.tokenizer.encode(text)
        with torch.inference_mode():
            intent, _ = net(torch.tensor([enc.ids]), torch.tensor([enc.attention_mask]))
        return int(intent[0].argmax())
    return run


def hassil_runner() -> Callable[[str], Any]:
    from edge.decision.pipeline import detect_language
    from edge.decision.template_stage import TemplateStage
    from edge.devices.registry import AREA_TRANSLATIONS, Registry

    stage = TemplateStage(Registry(known_areas=list(AREA_TRANSLATIONS)), ["en", "zh-cn"])
    return lambda text: stage.match(text, detect_language(text))


def edge_rss_mb(model_dir: Path) -> float:
    """Peak RSS of a fresh process holding what the edge holds: the model and HA's templates."""
    code = (f"import resource,sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from pathlib import Path\nfrom edge.io.intent_model import IntentModel\n"
            "from edge.devices.registry import Registry\nfrom edge.decision.template_stage import TemplateStage\n"
            f"m = IntentModel.load(Path({str(model_dir)!r})); m.predict('turn on the kitchen light')\n"
            "t = TemplateStage(Registry(), ['en', 'zh-cn']); t.warm_up()\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return round(int(out.stdout.strip().splitlines()[-1]) / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "edge" / "models" / "intent")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="the build directory with model.fp32.onnx and the torch checkpoint (student/)")
    parser.add_argument("--inputs", type=Path, nargs="*", default=DEFAULT_INPUTS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    build = args.build_dir or args.model_dir.parent / f"{args.model_dir.name}-build"

    model = IntentModel.load(args.model_dir, threads=1)
    texts = texts_from(args.inputs)
    results: dict[str, Any] = {"inputs": len(texts), "machine": machine() | {"threads_used": 1},
                               "model_version": model.version}
    int8_times, int8_out = timed(ort_runner(args.model_dir / model.manifest.model_file, model), texts, args.repeats)
    results["ort_int8"] = latency_ms(int8_times)
    fp32 = build / "model.fp32.onnx"
    if fp32.exists():
        fp32_times, fp32_out = timed(ort_runner(fp32, model), texts, args.repeats)
        results["ort_fp32"] = latency_ms(fp32_times)
        results["int8_fp32_agreement"] = round(sum(a == b for a, b in zip(int8_out, fp32_out, strict=True))
                                               / len(texts), 4)
    torch_dir = build / "student"
    if torch_dir.exists():
        torch_times, _ = timed(torch_runner(torch_dir, model), texts, 1)
        results["torch_eager"] = latency_ms(torch_times)
    hassil_times, _ = timed(hassil_runner(), texts, 1)
    results["hassil"] = latency_ms(hassil_times)
    results["model_bytes"] = sum(p.stat().st_size for p in args.model_dir.iterdir() if p.is_file())
    results["edge_rss_mb"] = edge_rss_mb(args.model_dir)
    results["bench_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    flat = {
        "ort_int8_p50_ms": results["ort_int8"]["p50_ms"], "ort_int8_p99_ms": results["ort_int8"]["p99_ms"],
        "ort_fp32_p50_ms": results.get("ort_fp32", {}).get("p50_ms"),
        "torch_eager_p50_ms": results.get("torch_eager", {}).get("p50_ms"),
        "hassil_p50_ms": results["hassil"]["p50_ms"], "hassil_p99_ms": results["hassil"]["p99_ms"],
        "int8_fp32_agreement": results.get("int8_fp32_agreement"), "model_bytes": results["model_bytes"],
        "edge_rss_mb": results["edge_rss_mb"],
    }
    print(json.dumps(results, indent=2))
    print(json.dumps(flat))


if __name__ == "__main__":
    main()
