"""Check an intent model against the acceptance thresholds on the third-party evaluation sets.

Usage: python bench/check_intent_model.py [--model edge/models/intent] [--eval-dir ../shared/eval] [--strict]
Prints each figure beside its threshold; the last stdout line is a JSON summary. With --strict the exit
status is 1 when a threshold is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autoglm.intent.evaluate import evaluate  # noqa: E402
from autoglm.intent.predict import Predictor  # noqa: E402

#: (file, metric, minimum)
THRESHOLDS = [
    ("slurp_iot_devel.jsonl", "in_scope_intent_accuracy", 0.90),
    ("slurp_iot_devel.jsonl", "oos_rejected_excl_overlap", 0.95),
    ("ha_tests_en.jsonl", "device_intent_accuracy", 0.95),
    ("ha_tests_zh_cn.jsonl", "device_intent_accuracy", 0.95),
]
MAX_MODEL_BYTES = 30 * 1024 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=ROOT / "edge" / "models" / "intent")
    parser.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    predictor = Predictor(args.model)
    reports = {name: evaluate(args.eval_dir / name, predictor) for name in dict.fromkeys(f for f, _, _ in THRESHOLDS)}
    summary: dict[str, object] = {"model_version": predictor.model.status().version}
    missed = []
    for name, metric, minimum in THRESHOLDS:
        value = reports[name][metric]
        ok = value is not None and value >= minimum
        summary[f"{name.removesuffix('.jsonl')}:{metric}"] = value
        print(f"{'ok  ' if ok else 'MISS'} {name:24} {metric:28} {value} (>= {minimum})")
        missed += [] if ok else [f"{name}:{metric}"]
    for name, report in reports.items():
        summary[f"{name.removesuffix('.jsonl')}:slot_f1"] = report["slot_f1"]
        summary[f"{name.removesuffix('.jsonl')}:oos_rejected"] = report["oos_rejected"]
        summary[f"{name.removesuffix('.jsonl')}:latency_p50_ms"] = report["latency_p50_ms"]
    size = sum(p.stat().st_size for p in args.model.iterdir() if p.is_file())
    print(f"{'ok  ' if size <= MAX_MODEL_BYTES else 'MISS'} model directory {size} bytes (<= {MAX_MODEL_BYTES})")
    missed += [] if size <= MAX_MODEL_BYTES else ["model_bytes"]
    summary |= {"model_bytes": size, "missed": missed}
    print(json.dumps(summary))
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
