"""Exact-plan accuracy of a planner model on generated examples: greedy decoding, free or under the plan grammar.

Free decoding measures what the weights alone know. Grammar-constrained decoding goes through the cloud's own
runner (`cloud.planner.runner.ModelRunner`, xgrammar masks from the request's plan schema), as the planner serves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import ValidationError
from tqdm import tqdm  # type: ignore[import-untyped]
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from cloud.planner.batch import GenerationRequest
from cloud.planner.catalogue import describe
from cloud.planner.prompt import render_prompt
from cloud.planner.runner import ModelRunner
from cloud.planner.schema import plan_schema
from cloud.planner.tiny.data import HELD_OUT, Example
from shared.plan import Plan


def prompt_for(example: Example) -> str:
    """The prompt the planner sees for an example: the same rendering the cloud's local planner uses."""
    return render_prompt(example.text, example.language, describe(example.home.fleet()))


@dataclass
class EvalReport:
    """Counts over one split: exact plans, parseable JSON, valid plans, plans naming only the home's devices."""

    count: int = 0
    exact: int = 0
    valid_json: int = 0
    valid_plan: int = 0
    known_devices: int = 0
    by_tag: dict[str, list[int]] = field(default_factory=dict)  # tag -> [count, exact]
    by_language: dict[str, list[int]] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)

    def add(self, example: Example, output: str) -> None:
        """Score one model output against the example's plan."""
        self.count += 1
        ok = False
        try:
            parsed = json.loads(output)
            self.valid_json += 1
            plan = Plan.model_validate(parsed)
            self.valid_plan += 1
            ids = {d.device.device_id for d in example.home.devices}
            if all(s.args.get("device_id", next(iter(ids))) in ids for s in plan.steps):
                self.known_devices += 1
            ok = parsed == example.plan
        except (json.JSONDecodeError, ValidationError):
            pass
        self.exact += ok
        lang = "zh" if example.language.startswith("zh") else "en"
        for key, table in ((lang, self.by_language), *((t, self.by_tag) for t in _report_tags(example))):
            row = table.setdefault(key, [0, 0])
            row[0] += 1
            row[1] += ok
        if not ok and len(self.failures) < 20:
            self.failures.append({"text": example.text, "expected": example.target(), "got": output})

    def summary(self) -> dict[str, Any]:
        """Rates rounded for the manifest and the CLI."""
        def rate(n: int, of: int) -> float:
            return round(n / of, 4) if of else 0.0
        return {
            "count": self.count, "exact_plan": rate(self.exact, self.count),
            "valid_json": rate(self.valid_json, self.count), "valid_plan": rate(self.valid_plan, self.count),
            "known_devices": rate(self.known_devices, self.count),
            "by_language": {k: rate(v[1], v[0]) for k, v in sorted(self.by_language.items())},
            "by_tag": {k: rate(v[1], v[0]) for k, v in sorted(self.by_tag.items())},
        }


def _report_tags(example: Example) -> list[str]:
    held = [t for t in example.tags if t in HELD_OUT]
    return held or [example.tags[0].split(":")[0]]


@torch.inference_mode()
def generate_plans(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], *,
                   max_new_tokens: int) -> list[str]:
    """Greedy completions of a batch of prompts (left-padded), cut at EOS."""
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
    out = model.generate(  # type: ignore[operator]
        **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id)
    new = out[:, enc["input_ids"].shape[1]:]  # [batch, generated]
    return [str(s).strip() for s in tokenizer.batch_decode(new, skip_special_tokens=True)]


def evaluate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], *,
             batch_size: int = 32, grammar: bool = False, progress: bool = False) -> EvalReport:
    """Exact-plan accuracy of greedy decoding over `examples` (batched by prompt length), optionally under grammar."""
    report = EvalReport()
    model.eval()  # type: ignore[no-untyped-call]
    runner = ModelRunner(model, tokenizer, name="tiny-eval") if grammar else None
    prompts = [prompt_for(e) for e in examples]
    order = sorted(range(len(examples)), key=lambda i: len(prompts[i]))
    label = "evaluating (grammar)" if grammar else "evaluating"
    for start in tqdm(range(0, len(order), batch_size), desc=label, unit="batch", disable=not progress):
        idx = order[start:start + batch_size]
        longest = max(len(tokenizer(examples[i].target(), add_special_tokens=False)["input_ids"]) for i in idx)
        # A plan can never be right once longer than the longest expected one: stop there.
        if runner is None:
            outputs = generate_plans(model, tokenizer, [prompts[i] for i in idx], max_new_tokens=longest + 4)
        else:
            requests = [GenerationRequest(prompts[i], json.dumps(plan_schema(examples[i].home.fleet())), longest + 4)
                        for i in idx]
            outputs = [out.text.strip() for out in runner.generate(requests)]
        for i, output in zip(idx, outputs, strict=True):
            report.add(examples[i], output)
    return report
