"""Tokenizer, plan-only loss, batching, a whole (micro) training run, the saved directory and the CLI."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import xgrammar as xgr
from transformers import AutoModelForCausalLM, AutoTokenizer, Glm4ForCausalLM, PreTrainedTokenizerFast
from typer.testing import CliRunner

from autoglm.cli_planner import app
from cloud.edge_models import sha256
from cloud.planner.prompt import PLAN_SEPARATORS
from cloud.planner.schema import plan_schema
from cloud.planner.tiny import train as tiny_train
from cloud.planner.tiny.data import Example, generate
from cloud.planner.tiny.evaluate import EvalReport, prompt_for
from cloud.planner.tiny.tokenizer import train_tokenizer
from cloud.planner.tiny.train import (
    IGNORE,
    MANIFEST,
    PROFILES,
    Profile,
    batches,
    encode,
    fit,
    model_config,
    plan_loss,
    train_tiny,
)

MICRO = Profile(name="micro", steps=8, batch_size=4, lr=3e-3, test_examples=4, heldout_examples=6, vocab_size=700,
                tokenizer_examples=200, layers=1, hidden=32, heads=2, kv_heads=1, intermediate=64, warmup=2)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return list(generate("train", 300, seed=5))


@pytest.fixture(scope="module")
def tokenizer(examples: list[Example]) -> PreTrainedTokenizerFast:
    return train_tokenizer([prompt_for(e) + e.target() for e in examples], vocab_size=1200)


def test_tokenizer_special_ids_and_round_trip(tokenizer: PreTrainedTokenizerFast, examples: list[Example]) -> None:
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1)
    assert tokenizer.padding_side == "left"
    for text in [prompt_for(e) + e.target() for e in examples[:50]] + ["打开从没见过的龘设备 ünïcode"]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text


def test_device_ids_tokenize_alike_in_listing_and_plan(tokenizer: PreTrainedTokenizerFast,
                                                       examples: list[Example]) -> None:
    for example in examples[:40]:
        prompt = tokenizer(prompt_for(example), add_special_tokens=False)["input_ids"]
        target = tokenizer(example.target(), add_special_tokens=False)["input_ids"]
        for step in example.plan["steps"]:
            device_id = step["args"].get("device_id")
            if device_id is None:
                continue
            pieces = tokenizer(device_id, add_special_tokens=False)["input_ids"]
            assert _contains(prompt, pieces) and _contains(target, pieces), device_id


def _contains(seq: list[int], part: list[int]) -> bool:
    return any(seq[i:i + len(part)] == part for i in range(len(seq) - len(part) + 1))


def test_catalogue_lines_are_few_tokens(tokenizer: PreTrainedTokenizerFast, examples: list[Example]) -> None:
    prompt = prompt_for(examples[0])
    system = prompt[len("<|system|>"):prompt.index("<|user|>")]
    catalogue = [line for line in system.split("\n") if line and not line.startswith("- ")]  # domain/tool lines
    assert len(catalogue) >= 2
    for line in catalogue:
        assert len(tokenizer("\n" + line, add_special_tokens=False)["input_ids"]) <= 3, line


def test_targets_are_accepted_by_the_request_grammar(tokenizer: PreTrainedTokenizerFast,
                                                     examples: list[Example]) -> None:
    compiler = xgr.GrammarCompiler(xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer)))
    for example in examples[:25]:
        schema = json.dumps(plan_schema(example.home.fleet()))
        grammar = compiler.compile_json_schema(schema, any_whitespace=False, separators=PLAN_SEPARATORS)
        matcher = xgr.GrammarMatcher(grammar)
        assert matcher.accept_string(example.target()), example.target()
        bad = xgr.GrammarMatcher(grammar)
        assert not bad.accept_string(example.target().replace('"steps"', '"stpes"'))


def test_batches_pad_right_and_label_only_the_plan(tokenizer: PreTrainedTokenizerFast,
                                                   examples: list[Example]) -> None:
    encoded = encode(examples[:10], tokenizer)
    assert len(encoded) == 10  # every example has its own home: nothing to pack
    data = batches(encoded, 4, random.Random(0), tokenizer.pad_token_id)
    assert sum(len(b["input_ids"]) for b in data) == 10
    targets = {tuple(tokenizer(e.target(), add_special_tokens=False)["input_ids"]) for e in examples[:10]}
    for batch in data:
        for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True):
            labelled = labels[labels != IGNORE].tolist()
            assert labelled[-1] == tokenizer.eos_token_id and tuple(labelled[:-1]) in targets
            assert ids[mask.bool()].tolist()[-len(labelled):] == labelled
            assert (ids[~mask.bool()] == tokenizer.pad_token_id).all() and (labels[~mask.bool()] == IGNORE).all()


def test_requests_about_one_home_share_a_sequence(tokenizer: PreTrainedTokenizerFast) -> None:
    packed = list(generate("train", 12, seed=9, per_home=4))
    assert len({id(e.home) for e in packed}) == 3
    encoded = encode(packed, tokenizer)
    assert len(encoded) == 3
    system = tokenizer.convert_tokens_to_ids("<|system|>")
    for (ids, labels), group in zip(encoded, (packed[0:4], packed[4:8], packed[8:12]), strict=True):
        assert ids.count(system) == 1 and ids.count(tokenizer.eos_token_id) == 4
        expected: list[int] = []
        for example in group:
            expected += tokenizer(example.target(), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        assert [t for t in labels if t != IGNORE] == expected


def test_plan_loss_equals_the_full_lm_loss(tokenizer: PreTrainedTokenizerFast, examples: list[Example]) -> None:
    torch.manual_seed(0)
    model = Glm4ForCausalLM(model_config(MICRO, tokenizer, max_positions=1024))
    batch = batches(encode(examples[:4], tokenizer), 4, random.Random(0), tokenizer.pad_token_id)[0]
    ours = plan_loss(model, batch)
    reference = model(**batch).loss
    assert torch.allclose(ours, reference, atol=1e-5)


def test_fit_lowers_the_loss(tokenizer: PreTrainedTokenizerFast, examples: list[Example]) -> None:
    torch.manual_seed(0)
    profile = replace(MICRO, steps=30, lr=5e-3, hidden=64, intermediate=128)
    model = Glm4ForCausalLM(model_config(profile, tokenizer, max_positions=1024))
    data = batches(encode(examples[:8], tokenizer), 8, random.Random(0), tokenizer.pad_token_id) * 30
    first = plan_loss(model, data[0]).item()
    last = fit(model, data, profile, progress=False)
    assert first > math.log(len(tokenizer)) * 0.8
    assert last < first * 0.6


def test_report_scores_exact_and_wrong_outputs(examples: list[Example]) -> None:
    report = EvalReport()
    report.add(examples[0], examples[0].target())
    wrong = json.loads(examples[1].target())
    wrong["steps"][0]["args"]["device_id"] = "no_such_device"
    report.add(examples[1], json.dumps(wrong))
    report.add(examples[2], "{not json")
    summary = report.summary()
    assert summary["count"] == 3
    assert summary["exact_plan"] == round(1 / 3, 4)
    assert summary["valid_json"] == round(2 / 3, 4)
    assert summary["known_devices"] == round(1 / 3, 4)


def test_micro_training_run_saves_a_loadable_checkpoint(tmp_path: Path) -> None:
    manifest = train_tiny(tmp_path / "tiny", profile=MICRO, seed=1, progress=False)
    out = tmp_path / "tiny"
    on_disk = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert on_disk["files"] == manifest["files"]
    for name, digest in manifest["files"].items():
        assert sha256(out / name) == digest
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(manifest["files"])
    assert manifest["architecture"] == "Glm4ForCausalLM" and manifest["data"]["seed"] == 1
    assert set(manifest["accuracy"]) == {"test", "heldout", "test_grammar", "heldout_grammar"}
    assert manifest["history"] == [{"seed": 1, "steps": MICRO.steps, "lr": MICRO.lr, "curriculum": MICRO.curriculum,
                                    "init": None}]
    for split, size in (("test", MICRO.test_examples), ("heldout", MICRO.heldout_examples),
                        ("test_grammar", MICRO.test_examples), ("heldout_grammar", MICRO.heldout_examples)):
        figures = manifest["accuracy"][split]
        assert figures["count"] == size and 0.0 <= figures["exact_plan"] <= 1.0
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert type(model).__name__ == "Glm4ForCausalLM"
    assert 0 <= model.config.pad_token_id < model.config.vocab_size
    assert tokenizer.eos_token_id == model.generation_config.eos_token_id


def test_cli_trains_and_prints_json_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tiny_train.PROFILES, "ci", MICRO)
    result = CliRunner().invoke(app, ["train-tiny", "--profile", "ci", "--out", str(tmp_path / "m"), "--seed", "2"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["profile"] == "ci" and figures["seed"] == 2
    for split in ("test", "heldout", "test_grammar", "heldout_grammar"):
        assert 0.0 <= figures[f"exact_plan_{split}"] <= 1.0
    assert (tmp_path / "m" / MANIFEST).is_file()


def test_cli_refuses_an_unknown_profile(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train-tiny", "--profile", "huge", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "unknown profile" in result.output
    assert not (tmp_path / "m").exists()


def test_profiles_are_glm4_shaped() -> None:
    assert {"ci", "full"} <= set(PROFILES)
    for profile in PROFILES.values():
        assert profile.hidden % profile.heads == 0 and profile.heads % profile.kv_heads == 0


def test_a_continued_run_records_the_runs_before_it(tmp_path: Path) -> None:
    first = tmp_path / "first"
    train_tiny(first, profile=MICRO, seed=1, progress=False)
    legacy = json.loads((first / MANIFEST).read_text(encoding="utf-8"))
    del legacy["history"]  # as a model saved before manifests kept one
    (first / MANIFEST).write_text(json.dumps(legacy), encoding="utf-8")
    more = replace(MICRO, steps=3, lr=1e-3, curriculum=0.0)
    manifest = train_tiny(tmp_path / "second", profile=more, seed=5, progress=False, init=first)
    assert [run["seed"] for run in manifest["history"]] == [1, 5]
    assert manifest["history"][0]["steps"] == MICRO.steps and manifest["history"][0]["init"] is None
    assert manifest["history"][1] == {"seed": 5, "steps": 3, "lr": 1e-3, "curriculum": 0.0, "init": str(first)}
