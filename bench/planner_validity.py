"""Plan validity: varied requests through LocalPlanner + PlannerEngine; how many plans validate for their caller.

Usage: python bench/planner_validity.py [--model DIR | --random] [--dtype fp32|int8|bf16] [--requests N]
                                        [--max-new-tokens N] [--json-schema] [--seed N]
Homes of 0-14 devices span up to three sites; callers (admin, operator, edge) see all sites or only some. A plan
counts as valid when it parses, conforms to the request's JSON schema, passes `validate_plan` for the caller and
names only devices the caller can see. Without --model a randomly initialised GLM-4 is used. The last line of
stdout is JSON with `valid_fraction` and `n`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from cloud.planner.catalogue import describe  # noqa: E402
from cloud.planner.conform import check  # noqa: E402
from cloud.planner.engine import PlannerEngine  # noqa: E402
from cloud.planner.local import LocalPlanner  # noqa: E402
from cloud.planner.plan_grammar import steps_for  # noqa: E402
from cloud.planner.prompt import render_prompt  # noqa: E402
from cloud.planner.random_model import random_checkpoint  # noqa: E402
from cloud.planner.runner import ModelRunner  # noqa: E402
from cloud.planner.samples import Case, cases  # noqa: E402
from cloud.planner.scheduler import BatchPolicy  # noqa: E402
from cloud.planner.schema import plan_dict, plan_schema  # noqa: E402
from cloud.planner.validate import validate_plan  # noqa: E402
from shared.errors import AutoGLMError  # noqa: E402
from shared.plan import Plan  # noqa: E402


def verdict(case: Case, plan: object) -> str:
    """"valid", or why not."""
    if isinstance(plan, BaseException):
        return type(plan).__name__
    assert isinstance(plan, Plan)
    data = plan_dict(plan)
    if check(data, plan_schema(case.visible, max_steps=steps_for(case.visible))) is not None:
        return "schema"
    try:
        validate_plan(plan, case.visible, caller=case.caller)
    except AutoGLMError as exc:
        return type(exc).__name__
    named = {s["args"]["device_id"] for s in data["steps"] if "device_id" in s["args"]}
    return "valid" if named <= {d.device_id for d in case.visible} else "unseen_device"


async def plan_all(runner: ModelRunner, items: list[Case], *, max_new_tokens: int, json_schema: bool) -> list[object]:
    """Each case's plan (or its error), batched by the engine."""
    engine = PlannerEngine(lambda: runner, policy=BatchPolicy(max_batch_size=32, batch_timeout_micros=20_000,
                                                              max_queue=4096),
                           request_timeout_s=3600, max_new_tokens=max_new_tokens)
    planner = LocalPlanner(engine, schema_for=plan_schema if json_schema else None)
    async with engine:
        return await asyncio.gather(*(planner.propose(c.request, c.visible, trace_id=f"t{i}")
                                      for i, c in enumerate(items)), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a planner checkpoint (default: a random GLM-4)")
    parser.add_argument("--dtype", choices=("fp32", "int8", "bf16"), default="fp32")
    parser.add_argument("--requests", type=int, default=224)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--json-schema", action="store_true", help="decode under the plan's JSON schema only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    items = cases(args.requests, args.seed)
    with tempfile.TemporaryDirectory(prefix="planner-validity-") as tmp:
        model_dir = args.model
        if model_dir is None:
            prompts = [render_prompt(c.request.text, c.request.language, describe(c.visible))
                       for c in cases(64, args.seed + 1)]
            model_dir = random_checkpoint(Path(tmp) / "model", prompts, seed=args.seed, vocab_size=768, layers=2,
                                          hidden=64, ffn=128, init_std=0.3)
        runner = ModelRunner.load(model_dir, dtype=args.dtype, device="cpu")
        started = time.perf_counter()
        plans = asyncio.run(plan_all(runner, items, max_new_tokens=args.max_new_tokens, json_schema=args.json_schema))
        seconds = time.perf_counter() - started
    verdicts = collections.Counter(verdict(c, p) for c, p in zip(items, plans, strict=True))
    shapes = {tuple(s.tool for s in p.steps) for p in plans if isinstance(p, Plan)}
    summary = {"model": str(args.model) if args.model else "random-glm4-2x64", "dtype": args.dtype,
               "constraint": "json_schema" if args.json_schema else "plan_grammar", "n": len(items),
               "valid_fraction": round(verdicts["valid"] / len(items), 4), "verdicts": dict(verdicts),
               "distinct_plan_shapes": len(shapes), "closed_by_budget": runner.closing_rows,
               "max_new_tokens": args.max_new_tokens, "seconds": round(seconds, 1)}
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
