"""Train the tiny GLM-architecture planner from scratch on generated data, evaluate it, and save it.

The output directory loads with `from_pretrained(out_dir)` (model, tokenizer, generation config) and holds
manifest.json: format version, model config, data seed, accuracy figures and the sha256 of every file.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import torch
from tqdm import tqdm  # type: ignore[import-untyped]
from transformers import Glm4Config, Glm4ForCausalLM, PreTrainedTokenizerFast

from cloud.edge_models import sha256
from cloud.planner.prompt import USER
from cloud.planner.tiny.data import Example, generate
from cloud.planner.tiny.evaluate import EvalReport, evaluate, prompt_for
from cloud.planner.tiny.tokenizer import train_tokenizer

log = logging.getLogger(__name__)

MANIFEST: Final = "manifest.json"
FORMAT_VERSION: Final = "autoglm-planner-tiny/1"
IGNORE: Final = -100


@dataclass(frozen=True)
class Profile:
    """Everything a build varies: data sizes, tokenizer, model shape, optimisation."""

    name: str
    steps: int
    batch_size: int
    lr: float
    test_examples: int
    heldout_examples: int
    vocab_size: int = 2500
    tokenizer_examples: int = 4000
    layers: int = 3
    hidden: int = 192
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 512
    warmup: int = 30
    curriculum: float = 0.3  # share of steps on small homes first
    per_home: int = 4  # requests packed per sequence after one device listing
    grammar_eval: bool = True  # also score decoding under the request's plan grammar
    threads: int = 1


PROFILES: Final[dict[str, Profile]] = {
    # Smoke test of the whole pipeline: a couple of minutes on 2 cores; low accuracy is expected.
    "ci": Profile(name="ci", steps=120, batch_size=8, lr=3e-3, test_examples=48, heldout_examples=48,
                  vocab_size=1500, tokenizer_examples=1500, layers=2, hidden=128, intermediate=384),
    # The shipped model: a few minutes on 2 idle cores.
    # (Two threads on idle cores; on shared cores pass threads=1: OpenMP threads spin against other jobs.)
    "full": Profile(name="full", steps=900, batch_size=8, lr=3e-3, test_examples=300, heldout_examples=300,
                    threads=2),
}


def model_config(profile: Profile, tokenizer: PreTrainedTokenizerFast, max_positions: int) -> Glm4Config:
    """A small Glm4 config; pad/eos ids come from the tokenizer (pad is inside the vocabulary)."""
    return Glm4Config(  # type: ignore[no-untyped-call]
        vocab_size=len(tokenizer), hidden_size=profile.hidden, intermediate_size=profile.intermediate,
        num_hidden_layers=profile.layers, num_attention_heads=profile.heads, num_key_value_heads=profile.kv_heads,
        head_dim=profile.hidden // profile.heads, max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
        tie_word_embeddings=True, attention_dropout=0.0,
    )


def encode(examples: Sequence[Example], tokenizer: PreTrainedTokenizerFast) -> list[tuple[list[int], list[int]]]:
    """Sequences of (token ids, labels): prompt + plan + eos, labels IGNORE except on plan and eos.

    Consecutive examples about the same home share one sequence: the first with its whole prompt, the next ones
    with only their request part (from the user marker on), so one device listing serves several plans.
    """
    prompts = [prompt_for(e) for e in examples]
    parts = [p if i == 0 or examples[i - 1].home is not e.home else p[p.index(USER):]
             for i, (p, e) in enumerate(zip(prompts, examples, strict=True))]
    asks = tokenizer(parts, add_special_tokens=False)["input_ids"]
    targets = tokenizer([e.target() for e in examples], add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    out: list[tuple[list[int], list[int]]] = []
    for i, (ask, target) in enumerate(zip(asks, targets, strict=True)):
        if i == 0 or examples[i - 1].home is not examples[i].home:
            out.append(([], []))
        ids, labels = out[-1]
        ids += ask + target + [eos]
        labels += [IGNORE] * len(ask) + target + [eos]
    return out


def batches(encoded: list[tuple[list[int], list[int]]], batch_size: int, rng: random.Random,
            pad_id: int) -> list[dict[str, torch.Tensor]]:
    """Right-padded batches of similar lengths (less padding), in random order."""
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(groups)
    out = []
    for group in groups:
        width = max(len(encoded[i][0]) for i in group)
        ids = torch.full((len(group), width), pad_id, dtype=torch.long)  # [batch, width]
        labels = torch.full((len(group), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        for row, i in enumerate(group):
            seq, seq_labels = encoded[i]
            ids[row, :len(seq)] = torch.tensor(seq)
            labels[row, :len(seq)] = torch.tensor(seq_labels)
            mask[row, :len(seq)] = 1
        out.append({"input_ids": ids, "labels": labels, "attention_mask": mask})
    return out


def plan_loss(model: Glm4ForCausalLM, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Next-token cross-entropy on the plan tokens only; the LM head runs only where a label is (cheaper)."""
    hidden = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]  # [batch, width-1]: token t+1 is predicted at position t
    keep = targets != IGNORE
    logits = model.lm_head(hidden[:, :-1][keep])  # [plan tokens, vocab]
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep])


def fit(model: Glm4ForCausalLM, data: list[dict[str, torch.Tensor]], profile: Profile, *, progress: bool,
        on_step: Callable[[int], None] | None = None) -> float:
    """AdamW with warmup and cosine decay over the batches, once each; the mean loss of the last tenth."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=profile.lr, weight_decay=0.01, betas=(0.9, 0.98))

    def scale(step: int) -> float:
        if step < profile.warmup:
            return (step + 1) / profile.warmup
        done = (step - profile.warmup) / max(1, len(data) - profile.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, scale)
    model.train()
    losses: list[float] = []
    bar = tqdm(data, desc="training", unit="step", disable=not progress)
    for batch in bar:
        loss = plan_loss(model, batch)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        schedule.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if on_step is not None:
            on_step(len(losses))
    model.eval()  # type: ignore[no-untyped-call]
    tail = losses[-max(1, len(losses) // 10):]
    return sum(tail) / len(tail)


def history(init: Path | None, profile: Profile, seed: int) -> list[dict[str, Any]]:
    """The training runs behind a model: `init`'s runs (from its manifest), then this one."""
    run = {"seed": seed, "steps": profile.steps, "lr": profile.lr, "curriculum": profile.curriculum,
           "init": None if init is None else str(init)}
    if init is None:
        return [run]
    prior = json.loads((init / MANIFEST).read_text(encoding="utf-8"))
    earlier = prior.get("history") or [{"seed": prior["data"]["seed"], "steps": prior["profile"]["steps"],
                                        "lr": prior["profile"]["lr"], "curriculum": prior["profile"]["curriculum"],
                                        "init": None}]  # a first run saved before manifests kept a history
    return [*earlier, run]


def train_tiny(out_dir: Path, *, profile: Profile, seed: int = 0, progress: bool = True,
               init: Path | None = None) -> dict[str, Any]:
    """Generate data, train tokenizer and model, evaluate on both held-out splits, save; the manifest as a dict.

    With `init` (a directory this function wrote), training continues from that model and its tokenizer on fresh
    examples (use another `seed` than the first run's, so the data is new).
    """
    started = time.monotonic()
    torch.manual_seed(seed)
    before = torch.get_num_threads()
    torch.set_num_threads(profile.threads)
    try:
        # Curriculum: the first part comes from small homes (short prompts, easy lookups), then every size.
        per_step = profile.batch_size * profile.per_home
        small = int(profile.steps * profile.curriculum) * per_step
        train = list(generate("train", small, seed=seed, max_devices=6, per_home=profile.per_home))
        train += generate("train", profile.steps * per_step - small, seed=seed + 1_000_003, per_home=profile.per_home)
        test = list(generate("test", profile.test_examples, seed=seed))
        heldout = list(generate("heldout", profile.heldout_examples, seed=seed))
        runs = history(init, profile, seed)
        if init is not None:
            tokenizer = PreTrainedTokenizerFast.from_pretrained(init)
            model = Glm4ForCausalLM.from_pretrained(init)
            encoded = encode(train, tokenizer)
        else:
            texts = [prompt_for(e) + e.target() for e in train[::max(1, len(train) // profile.tokenizer_examples)]]
            tokenizer = train_tokenizer(texts, vocab_size=profile.vocab_size)
            encoded = encode(train, tokenizer)
            longest = max(len(seq) for seq, _ in encoded)
            config = model_config(profile, tokenizer,
                                  max_positions=max(1024, 2 ** math.ceil(math.log2(longest * 2))))
            model = Glm4ForCausalLM(config)  # type: ignore[no-untyped-call]
        rng = random.Random(seed)
        first = small // profile.per_home  # sequences from small homes
        data = (batches(encoded[:first], profile.batch_size, rng, tokenizer.pad_token_id)
                + batches(encoded[first:], profile.batch_size, rng, tokenizer.pad_token_id))
        final_loss = fit(model, data, profile, progress=progress)
        trained_s = time.monotonic() - started
        reports = {name: evaluate(model, tokenizer, split, progress=progress)
                   for name, split in (("test", test), ("heldout", heldout))}
        if profile.grammar_eval:
            reports |= {f"{name}_grammar": evaluate(model, tokenizer, split, grammar=True, progress=progress)
                        for name, split in (("test", test), ("heldout", heldout))}
        manifest = _save(out_dir, model, tokenizer, profile, seed, reports, final_loss, trained_s,
                         time.monotonic() - started, len(train), runs)
    finally:
        torch.set_num_threads(before)
    return manifest


def _save(out_dir: Path, model: Glm4ForCausalLM, tokenizer: PreTrainedTokenizerFast, profile: Profile, seed: int,
          reports: dict[str, EvalReport], final_loss: float, trained_s: float, total_s: float,
          train_examples: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    files = sorted(p for p in out_dir.iterdir() if p.is_file() and p.name != MANIFEST)
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "architecture": "Glm4ForCausalLM",
        "profile": asdict(profile),
        "config": model.config.to_diff_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": {"seed": seed, "train_examples": train_examples, "generator": "cloud.planner.tiny.data",
                 "held_out_compositions": sorted(reports["heldout"].by_tag)},
        "decoding": {"test/heldout": "greedy, unconstrained (no grammar)",
                     "*_grammar": "greedy under the request's plan schema (xgrammar, cloud.planner.runner)"},
        "accuracy": {name: report.summary() for name, report in reports.items()},
        "history": runs,  # every run from the first weights: seed, steps, peak lr, the model it continued
        "final_loss": round(final_loss, 4),
        "train_seconds": round(trained_s, 1),
        "total_seconds": round(total_s, 1),
        "files": {p.name: sha256(p) for p in files},
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest
