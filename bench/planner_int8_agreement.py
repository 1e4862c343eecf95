"""INT8 vs bf16 planner: do both precisions give the same plan, and how often is it the expected plan?

Usage: python bench/planner_int8_agreement.py --model DIR [--requests N] [--batch N] [--threads N] [--strict]
Requests are the tiny planner's evaluation splits (in-distribution `test` and held-out compositions), decoded
greedily under each request's plan grammar, as the planner serves. The last stdout line is JSON with
`int8_bf16_same_plan`, `exact_plan_bf16`, `exact_plan_int8`, `n`, and the weight bytes of both. `--strict` exits 1
when the plans agree on fewer than 95% of the requests or INT8 weighs more than 0.55x bf16 (the acceptance goals).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from cloud.planner.batch import GenerationRequest  # noqa: E402
from cloud.planner.local import parse_plan  # noqa: E402
from cloud.planner.plan_grammar import plan_grammar  # noqa: E402
from cloud.planner.runner import ModelRunner, weight_bytes  # noqa: E402
from cloud.planner.schema import plan_to_json  # noqa: E402
from cloud.planner.tiny.data import Example, generate  # noqa: E402
from cloud.planner.tiny.evaluate import prompt_for  # noqa: E402
from shared.errors import AutoGLMError  # noqa: E402


def plans(runner: ModelRunner, examples: list[Example], batch: int, max_new_tokens: int) -> list[str | None]:
    """Each example's plan as canonical JSON, or None when the output is not a plan."""
    out: list[str | None] = []
    for start in range(0, len(examples), batch):
        chunk = examples[start:start + batch]
        requests = [GenerationRequest(prompt_for(ex), None, max_new_tokens, grammar=plan_grammar(ex.home.fleet()))
                    for ex in chunk]
        for result in runner.generate(requests):
            try:
                out.append(plan_to_json(parse_plan(result.text)))
            except AutoGLMError:
                out.append(None)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=100, help="per split (test and held-out)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--strict", action="store_true", help="exit 1 below the acceptance goals")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    examples = [*generate("test", args.requests, seed=args.seed), *generate("heldout", args.requests, seed=args.seed)]
    gold = [ex.target() for ex in examples]
    report: dict[str, object] = {"n": len(examples), "model": str(args.model)}
    outputs: dict[str, list[str | None]] = {}
    for dtype in ("bf16", "int8"):
        started = time.perf_counter()
        runner = ModelRunner.load(args.model, dtype=dtype, device="cpu")
        outputs[dtype] = plans(runner, examples, args.batch, args.max_new_tokens)
        report[f"weight_bytes_{dtype}"] = weight_bytes(runner.model)
        report[f"exact_plan_{dtype}"] = round(sum(p == g for p, g in zip(outputs[dtype], gold, strict=True))
                                              / len(gold), 4)
        report[f"seconds_{dtype}"] = round(time.perf_counter() - started, 1)
        print(f"{dtype}: exact {report[f'exact_plan_{dtype}']}, {report[f'seconds_{dtype}']} s", file=sys.stderr)
    same = sum(a is not None and a == b for a, b in zip(outputs["bf16"], outputs["int8"], strict=True))
    report["int8_bf16_same_plan"] = round(same / len(examples), 4)
    print(json.dumps(report))
    ratio = int(report["weight_bytes_int8"]) / int(report["weight_bytes_bf16"])  # type: ignore[call-overload]
    if args.strict and (report["int8_bf16_same_plan"] < 0.95 or ratio > 0.55):  # type: ignore[operator]
        print(f"FAIL: same plan {report['int8_bf16_same_plan']} (goal >= 0.95), INT8/bf16 bytes {ratio:.3f} "
              "(goal <= 0.55)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
