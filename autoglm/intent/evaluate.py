"""`autoglm intent eval`: accuracy, out-of-scope rejection, slot F1 and latency on a JSONL set."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from autoglm.intent.predict import REPORTED_SLOTS, Predictor, Result
from edge.devices.registry import normalize
from shared.intent import INTENT_LABELS, OUT_OF_SCOPE, split_label

#: Intents the edge controls devices with; HA's timers, weather, lists ... are the cloud's.
DEVICE_INTENTS = frozenset(split_label(label)[0] for label in INTENT_LABELS if label != OUT_OF_SCOPE)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Lines of a JSONL file; each needs at least "text"."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise ValueError(f"{path}:{number}: each line needs a \"text\" string")
        rows.append(row)
    return rows


def _slot_pairs(slots: dict[str, Any]) -> set[tuple[str, str]]:
    pairs = set()
    for key in REPORTED_SLOTS:
        value = slots.get(key)
        if value is None or value == "":
            continue
        for item in value if isinstance(value, list) else [value]:
            text = f"{float(item):g}" if isinstance(item, int | float) else normalize(str(item))
            pairs.add((key, text.removesuffix("'s")))
    return pairs


def score(rows: list[dict[str, Any]], results: list[Result]) -> dict[str, Any]:
    """Metrics of predictions against gold rows (which carry "intent" and optionally "slots")."""
    in_scope = [(r, p) for r, p in zip(rows, results, strict=True) if r.get("intent") != OUT_OF_SCOPE]
    oos = [(r, p) for r, p in zip(rows, results, strict=True) if r.get("intent") == OUT_OF_SCOPE]
    device = [(r, p) for r, p in in_scope if r.get("intent") in DEVICE_INTENTS]
    oos_plain = [(r, p) for r, p in oos if not r.get("ha_builtin_overlap")]
    tp = fp = fn = 0
    for row, pred in device:
        gold, guess = _slot_pairs(row.get("slots") or {}), _slot_pairs(pred.slots)
        tp, fp, fn = tp + len(gold & guess), fp + len(guess - gold), fn + len(gold - guess)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    per_intent: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, pred in zip(rows, results, strict=True):
        per_intent[row.get("intent", "?")][0] += pred.intent == row.get("intent")
        per_intent[row.get("intent", "?")][1] += 1
    latencies = sorted(p.latency_ms for p in results)

    def rate(pairs: Iterable[tuple[dict[str, Any], Result]],
             ok: Callable[[dict[str, Any], Result], bool]) -> float | None:
        items = list(pairs)
        return round(sum(ok(r, p) for r, p in items) / len(items), 4) if items else None

    return {
        "n": len(rows),
        "accuracy": rate(zip(rows, results, strict=True), lambda r, p: p.intent == r.get("intent")),
        "in_scope_intent_accuracy": rate(in_scope, lambda r, p: p.intent == r.get("intent")),
        "device_intent_accuracy": rate(device, lambda r, p: p.intent == r.get("intent")),
        "device_n": len(device),
        "oos_rejected": rate(oos, lambda r, p: p.intent == OUT_OF_SCOPE),
        "oos_rejected_excl_overlap": rate(oos_plain, lambda r, p: p.intent == OUT_OF_SCOPE),
        "oos_n": len(oos),
        "slot_precision": round(precision, 4),
        "slot_recall": round(recall, 4),
        "slot_f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        "stages": dict(Counter(p.stage for p in results)),
        "latency_p50_ms": round(statistics.median(latencies), 3) if latencies else None,
        "latency_p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 3)
        if latencies else None,
        "per_intent_accuracy": {k: round(v[0] / v[1], 4) for k, v in sorted(per_intent.items())},
    }


def evaluate(path: Path, predictor: Predictor) -> dict[str, Any]:
    """Predict every line of `path` and score it."""
    rows = read_jsonl(path)
    results = [predictor.predict(r["text"], r.get("language")) for r in rows]
    report = score(rows, results)
    report["file"] = path.name
    report["model_version"] = predictor.model.status().version
    return report
