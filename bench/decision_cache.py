"""Decision cache hit vs the model path, on one thread, over generated English and Chinese commands.

The hit is `DecisionCache.get` on a real SQLite file (WAL): lookup, fingerprint of the decision's devices' twin values,
decode, and the LRU touch. The model path is what the pipeline runs for a request the model decides, and a hit
skips: the template stage (hassil, no match) and then `ModelStage.match` with the shipped ONNX intent model
(tokenise, inference, slot resolution against a registry of common areas, as `autoglm intent predict` builds
it). The model stage alone is reported too (`model_stage_only_p50_ms`).

Usage: python bench/decision_cache.py [--model-dir edge/models/intent] [--repeats 5]
The last line of stdout is a JSON summary.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from bench.stats import latency_ms  # noqa: E402
from edge.config import CacheSettings  # noqa: E402
from edge.decision.model_stage import ModelStage  # noqa: E402
from edge.decision.pipeline import detect_language, normalize_text  # noqa: E402
from edge.decision.template_stage import TemplateStage  # noqa: E402
from edge.devices.registry import AREA_TRANSLATIONS, Registry  # noqa: E402
from edge.io.decision_cache import DecisionCache  # noqa: E402
from edge.io.intent_model import load_intent_model  # noqa: E402
from edge.ports import CachedDecision, Versions  # noqa: E402
from shared.decision import DecisionSource  # noqa: E402

AREAS = [("kitchen", "厨房"), ("bedroom", "卧室"), ("living room", "客厅"), ("study", "书房"), ("bathroom", "浴室")]
EN = ["turn on the {a} light", "switch off the {a} lamp", "set the {a} lights to {n} percent",
      "make the {a} brighter", "dim the {a} lights", "close the {a} curtains"]
ZH = ["打开{a}的灯", "关掉{a}的灯", "把{a}的灯调到百分之{n}", "{a}的灯调亮一点", "打开{a}的窗帘"]
ZH_NUMBERS = ["三十", "五十", "八十", "二十"]
EXTRA = ["set the thermostat to 21 degrees", "start the vacuum", "pause the music", "what is the temperature",
         "空调调到二十五度", "让扫地机器人开始打扫", "下一首歌", "tell me a joke"]


def sentences() -> list[tuple[str, list[str]]]:
    """~50 commands, each with the device ids its decision would depend on."""
    out: list[tuple[str, list[str]]] = []
    for (i, template), (en, zh) in itertools.product(enumerate(EN), AREAS[:4]):
        out.append((template.format(a=en, n=20 + 10 * i), [f"light.{en.replace(' ', '_')}", f"cover.{zh}"]))
    for (i, template), (en, zh) in itertools.product(enumerate(ZH), AREAS[:4]):
        out.append((template.format(a=zh, n=ZH_NUMBERS[i % 4]), [f"light.{en.replace(' ', '_')}"]))
    out += [(text, ["climate.home", "vacuum.robot", "media.speaker"]) for text in EXTRA]
    return out


def twin_state(ids: list[str]) -> dict[str, dict[str, Any]]:
    """Plausible reported values, including the noisy properties a zigbee2mqtt device sends."""
    return {d: {"state": "ON" if i % 2 else "OFF", "brightness": 40 + i, "color_temp": 350, "linkquality": 90 - i,
                "last_seen": "2026-11-25T17:00:00Z"} for i, d in enumerate(sorted(set(ids)))}


def timed(fn: Callable[[str], Any], texts: list[str], repeats: int) -> list[float]:
    for text in texts[:10]:  # warm-up
        fn(text)
    times = []
    for _ in range(repeats):
        for text in texts:
            start = time.perf_counter()
            fn(text)
            times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "edge" / "models" / "intent")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    stage_registry = Registry(known_areas=[a.title() for a in AREA_TRANSLATIONS])
    stage = ModelStage(stage_registry, args.model_dir, load=load_intent_model, threads=1)
    stage.reload_if_changed()
    if stage.model is None:
        sys.exit(f"error: no intent model loaded from {args.model_dir}: {stage.status().error}")
    items = [(normalize_text(t), ids) for t, ids in sentences()]
    texts = [t for t, _ in items]
    twins = twin_state([d for _, ids in items for d in ids])
    versions = Versions(template="hassil", model=stage.model.version)

    template = TemplateStage(stage_registry, ["en", "zh-cn"])
    template.warm_up()

    def model_stage(text: str) -> Any:
        return stage.match(text, detect_language(text))

    def model_path(text: str) -> Any:
        """What the pipeline runs for a request the model decides: the template stage (no match), then the model."""
        language = detect_language(text)
        return template.match(text, language) or stage.match(text, language)

    with tempfile.TemporaryDirectory() as tmp:
        cache = DecisionCache(Path(tmp) / "edge.db", lambda d: twins.get(d, {}), CacheSettings())
        sources: dict[str, int] = {}
        put_times: list[float] = []
        for text, ids in items:
            match = model_stage(text)
            decision = (CachedDecision(match.intent, {k: str(v) for k, v in match.slots.items()},
                                       DecisionSource.MODEL, dict(match.spoken), match.confidence)
                        if match is not None else  # not the edge's: the cloud's plan would be cached instead
                        CachedDecision("plan", {}, DecisionSource.CLOUD, plan={"steps": [], "reply": "..."}))
            sources[decision.source.value] = sources.get(decision.source.value, 0) + 1
            start = time.perf_counter()
            cache.put(text, detect_language(text), versions, ids, decision)
            put_times.append((time.perf_counter() - start) * 1000)
        hit_times = timed(lambda t: cache.get(t, detect_language(t), versions), texts, args.repeats)
        other = Versions(template="hassil", model="other")
        miss_times = timed(lambda t: cache.get(t, detect_language(t), other), texts, args.repeats)
        assert cache.hits >= len(texts) * args.repeats, "a stored decision did not hit"
        cache.close()
    model_times = timed(model_path, texts, args.repeats)
    stage_times = timed(model_stage, texts, args.repeats)

    hit, model, miss, put = (latency_ms(t) for t in (hit_times, model_times, miss_times, put_times))
    only_model = latency_ms(stage_times)
    results = {"cache_hit": hit, "cache_miss_lookup": miss, "cache_put": put, "model_path": model,
               "model_stage_only": only_model,
               "decision_sources": sources}
    flat = {"cache_hit_p50_ms": hit["p50_ms"], "cache_hit_p99_ms": hit["p99_ms"], "model_path_p50_ms": model["p50_ms"],
            "model_path_p99_ms": model["p99_ms"], "ratio": round(model["p50_ms"] / hit["p50_ms"], 1),
            "model_stage_only_p50_ms": only_model["p50_ms"],
            "ratio_model_stage_only": round(only_model["p50_ms"] / hit["p50_ms"], 1),
            "cache_miss_lookup_p50_ms": miss["p50_ms"], "cache_put_p50_ms": put["p50_ms"],
            "sentences": len(texts), "samples_per_path": len(texts) * args.repeats,
            "model_version": versions.model,
            "machine": machine() | {"threads_used": 1}}
    print(json.dumps(results, indent=2))
    print(json.dumps(flat, ensure_ascii=False))


if __name__ == "__main__":
    main()
