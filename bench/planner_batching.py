"""Planner engine on CPU: dynamic batching vs max_batch_size=1 at 1, 8 and 32 clients; grammar on vs off.

Usage: python bench/planner_batching.py [--model DIR] [--dtype fp32|int8|bf16] [--quick] [--requests N]
                                       [--max-new-tokens N] [--json-schema] [--threads N]
Without --model a random GLM-4 (4 layers, 256 wide; --quick: 2 x 64) with our own tokenizer is built; with it,
a planner checkpoint (e.g. var/planner-tiny from `autoglm planner train-tiny`) is used. Requests are constrained by
the per-request plan grammar the local planner uses (`--json-schema`: by the plan's JSON schema instead).
Each client sends requests one after another (closed loop). Grammars and prompt prefixes of the benchmark's homes
are warmed up first, as a running server has them. The last line of stdout is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.machine import machine  # noqa: E402
from bench.stats import percentile  # noqa: E402
from cloud.fleet import DOMAIN_ACTIONS, Device  # noqa: E402
from cloud.planner.batch import BatchRunner  # noqa: E402
from cloud.planner.catalogue import describe  # noqa: E402
from cloud.planner.engine import PlannerEngine  # noqa: E402
from cloud.planner.plan_grammar import plan_grammar  # noqa: E402
from cloud.planner.prompt import render_prompt  # noqa: E402
from cloud.planner.random_model import random_checkpoint  # noqa: E402
from cloud.planner.runner import ModelRunner  # noqa: E402
from cloud.planner.scheduler import BatchPolicy  # noqa: E402
from cloud.planner.schema import plan_schema  # noqa: E402

AREAS = ["kitchen", "bedroom", "living room", "hall", "garage", "office", "客厅", "卧室"]
REQUESTS = ["turn off the {a} light", "lock up", "when I leave, turn everything off and lock up",
            "如果卧室超过26度就开空调并通知我", "set the {a} to 22 degrees", "把{a}的灯打开", "start the vacuum",
            "turn on the fan for 10 minutes", "is the front door locked?", "close the {a} blinds"]


def homes(count: int, rng: random.Random) -> list[list[Device]]:
    """Small synthetic homes: 3-8 devices of assorted domains."""
    domains = [d for d in DOMAIN_ACTIONS if d not in ("sensor", "binary_sensor")]
    out = []
    for h in range(count):
        devices = []
        for i in range(rng.randint(3, 8)):
            domain, area = rng.choice(domains), rng.choice(AREAS)
            devices.append(Device(f"{domain}.d{h}_{i}", "edge-1", "home", domain, f"{area} {domain}", area))
        out.append(devices)
    return out


@dataclass(frozen=True)
class Item:
    """One request: its prompt and the two ways to constrain it."""

    prompt: str
    schema: dict[str, Any]
    grammar: str


def workload(count: int, seed: int = 0) -> list[Item]:
    """Requests over a handful of homes."""
    rng = random.Random(seed)
    houses = homes(6, rng)
    grammars = [plan_grammar(devices) for devices in houses]
    items = []
    for i in range(count):
        devices = houses[i % len(houses)]
        text = rng.choice(REQUESTS).format(a=rng.choice(AREAS))
        prompt = render_prompt(text, "zh" if any("\u4e00" <= c <= "\u9fff" for c in text) else "en", describe(devices))
        items.append(Item(prompt, plan_schema(devices), grammars[i % len(houses)]))
    return items


async def run_clients(runner: BatchRunner, items: list[Item], *, clients: int, max_batch_size: int, grammar: bool,
                      max_new_tokens: int, json_schema: bool = False) -> dict[str, float]:
    """Throughput and latency of `clients` closed-loop clients sharing `items`."""
    policy = BatchPolicy(max_batch_size=max_batch_size, max_queue=1024)
    engine = PlannerEngine(lambda: runner, policy=policy, request_timeout_s=3600, max_new_tokens=max_new_tokens)
    latencies: list[float] = []
    tokens = 0
    queue = list(items)

    async def client() -> None:
        nonlocal tokens
        while queue:
            item = queue.pop()
            started = time.perf_counter()
            if not grammar:
                result = await engine.generate(item.prompt, None)
            elif json_schema:
                result = await engine.generate(item.prompt, item.schema)
            else:
                result = await engine.generate(item.prompt, None, grammar=item.grammar)
            latencies.append(time.perf_counter() - started)
            tokens += result.tokens

    async with engine:
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"requests_per_s": round(len(items) / elapsed, 3), "tokens_per_s": round(tokens / elapsed, 1),
            "p50_s": round(statistics.median(latencies), 4),
            "p95_s": round(percentile(latencies, 0.95), 4)}


def build_model(out: Path, quick: bool) -> Path:
    """A random GLM-4 whose tokenizer is trained on the benchmark's own prompts."""
    texts = [item.prompt for item in workload(200, seed=1)]
    if quick:
        return random_checkpoint(out, texts, vocab_size=1024, layers=2, hidden=64, ffn=128)
    return random_checkpoint(out, texts, vocab_size=4096, layers=4, hidden=256, ffn=1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a planner checkpoint (default: a random GLM-4)")
    parser.add_argument("--quick", action="store_true", help="tiny model and few requests (CI)")
    parser.add_argument("--requests", type=int, help="requests per measurement (default 64; quick 8)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default 160; quick 48")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--dtype", choices=("fp32", "int8", "bf16"), default="fp32", help="weights (default fp32)")
    parser.add_argument("--json-schema", action="store_true", help="constrain by the JSON schema, not the grammar")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    count = args.requests or (8 if args.quick else 64)
    max_new = args.max_new_tokens or (48 if args.quick else 160)
    with tempfile.TemporaryDirectory(prefix="planner-bench-") as tmp:
        model_dir = args.model or build_model(Path(tmp) / "model", args.quick)
        runner = ModelRunner.load(model_dir, dtype=args.dtype, device="cpu")
        items = workload(count)
        mode = {"json_schema": args.json_schema, "max_new_tokens": max_new}
        # Warm-up, one request per home: compiles its grammar, caches its prompt prefix, faults in the weights.
        asyncio.run(run_clients(runner, workload(6, seed=2), clients=6, max_batch_size=1, grammar=True, **mode))
        rows: dict[str, dict[str, float]] = {}
        for clients in (1, 8, 32):
            for name, size in (("batched", 32), ("unbatched", 1)):
                row = asyncio.run(run_clients(runner, items, clients=clients, max_batch_size=size, grammar=True,
                                              **mode))
                rows[f"{name}_{clients}"] = row
                print(f"{name:9s} clients={clients:2d} {row}", flush=True)
        for grammar in (True, False):
            row = asyncio.run(run_clients(runner, items, clients=8, max_batch_size=32, grammar=grammar, **mode))
            rows[f"grammar_{'on' if grammar else 'off'}_8"] = row
            print(f"grammar={'on ' if grammar else 'off'} clients= 8 {row}", flush=True)
    summary = {
        "model": str(args.model) if args.model else ("random-glm4-2x64" if args.quick else "random-glm4-4x256"),
        "requests": count, "max_new_tokens": max_new, "threads": args.threads, "machine": machine(),
        "dtype": args.dtype, "constraint": "json_schema" if args.json_schema else "plan_grammar",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "batching_speedup_1": round(rows["batched_1"]["requests_per_s"] / rows["unbatched_1"]["requests_per_s"], 3),
        "batching_speedup_8": round(rows["batched_8"]["requests_per_s"] / rows["unbatched_8"]["requests_per_s"], 3),
        "batching_speedup_32": round(rows["batched_32"]["requests_per_s"] / rows["unbatched_32"]["requests_per_s"],
                                     3),
        "grammar_speed_ratio": round(rows["grammar_on_8"]["tokens_per_s"] / rows["grammar_off_8"]["tokens_per_s"], 3),
        "runs": rows,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
