"""The model runner on a random tiny Glm4ForCausalLM: grammar-constrained batches, padding, stop, INT8 load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloud.planner.batch import GenerationRequest
from cloud.planner.catalogue import describe
from cloud.planner.conform import check
from cloud.planner.prompt import render_prompt
from cloud.planner.runner import ModelRunner, load_model
from cloud.planner.schema import plan_schema
from shared.errors import ModelError
from shared.plan import Plan
from tests.cloud.planner.checkpoints import DEVICES, REQUESTS, build

SMALL_SCHEMA = {
    "type": "object",
    "properties": {
        "steps": {"type": "array", "minItems": 1, "maxItems": 3, "items": {
            "type": "object",
            "properties": {"id": {"type": "string", "pattern": "^s[0-9]$"},
                           "tool": {"type": "string", "enum": ["light.turn_on", "wait", "notify"]}},
            "required": ["id", "tool"], "additionalProperties": False}},
    },
    "required": ["steps"],
    "additionalProperties": False,
}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("glm") / "tiny")


@pytest.fixture(scope="module")
def runner(checkpoint: Path) -> ModelRunner:
    return ModelRunner.load(checkpoint, dtype="fp32", device="cpu")


def prompts() -> list[str]:
    return [render_prompt(text, "en", describe(DEVICES)) for text in REQUESTS]


def test_loads_a_glm4_checkpoint_with_an_explicit_pad_id(runner: ModelRunner) -> None:
    assert type(runner.model).__name__ == "Glm4ForCausalLM"
    assert runner.model.config.pad_token_id == 0 < runner.vocab_size
    assert runner.tokenizer.padding_side == "left"


def test_grammar_constrained_outputs_always_match_the_schema(runner: ModelRunner) -> None:
    schema = json.dumps(SMALL_SCHEMA)
    outs = runner.generate([GenerationRequest(p + str(i), schema, 96) for i, p in enumerate(prompts() * 2)])
    assert len(outs) == 2 * len(REQUESTS)
    for out in outs:
        assert out.finish_reason == "stop", out
        assert check(json.loads(out.text), SMALL_SCHEMA) is None


def test_plan_schema_outputs_are_plans_over_known_devices(runner: ModelRunner) -> None:
    schema = plan_schema(DEVICES)
    outs = runner.generate([GenerationRequest(p, json.dumps(schema), 512) for p in prompts()[:4]])
    finished = [out for out in outs if out.finish_reason == "stop"]
    assert finished, [o.text[:80] for o in outs]
    known = {d.device_id for d in DEVICES}
    for out in outs:  # even a cut-off row is a prefix the grammar allowed
        assert out.text.startswith('{"steps":[{"id":"s')
    for out in finished:
        assert check(json.loads(out.text), schema) is None
        plan = Plan.model_validate_json(out.text)
        assert {s.args["device_id"] for s in plan.steps if "device_id" in s.args} <= known


def test_a_row_gives_the_same_output_alone_and_in_a_left_padded_batch(runner: ModelRunner) -> None:
    schema = json.dumps(SMALL_SCHEMA)
    batch = [GenerationRequest(p, schema, 64) for p in prompts()]  # prompts of different lengths
    together = [o.text for o in runner.generate(batch)]
    alone = [runner.generate([r])[0].text for r in batch[:3]]
    assert together[:3] == alone


def test_unconstrained_rows_stop_at_max_new_tokens_beside_constrained_ones(runner: ModelRunner) -> None:
    free, bound = runner.generate([GenerationRequest(prompts()[0], None, 7),
                                   GenerationRequest(prompts()[1], json.dumps(SMALL_SCHEMA), 96)])
    assert (free.finish_reason, free.tokens) == ("length", 7)
    assert bound.finish_reason == "stop" and json.loads(bound.text)["steps"]


def test_should_stop_cancels_a_row(runner: ModelRunner) -> None:
    outs = runner.generate([GenerationRequest(p, None, 20) for p in prompts()[:2]], should_stop=lambda row: row == 1)
    assert [o.finish_reason for o in outs] == ["length", "cancelled"]
    assert outs[0].tokens == 20 and outs[0].first_token_s > 0


def test_int8_load_works_on_cpu(checkpoint: Path) -> None:
    runner = ModelRunner.load(checkpoint, dtype="int8", device="cpu")
    assert type(runner.model.lm_head.weight).__name__ == "Int8Tensor"
    out = runner.generate([GenerationRequest(prompts()[0], json.dumps(SMALL_SCHEMA), 96)])[0]
    assert out.finish_reason == "stop" and check(json.loads(out.text), SMALL_SCHEMA) is None


def test_a_directory_without_a_checkpoint_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no config\.json"):
        load_model(tmp_path)


def test_a_cached_prompt_prefix_gives_the_same_output_as_a_cold_run(checkpoint: Path) -> None:
    runner = ModelRunner.load(checkpoint, dtype="fp32", device="cpu")
    request = GenerationRequest(prompts()[2], json.dumps(SMALL_SCHEMA), 64)
    cold = runner.generate([request])[0]
    assert (runner.prefixes.misses, len(runner.prefixes)) == (1, 1)
    warm = runner.generate([GenerationRequest(prompts()[5], None, 8), request])  # same devices: same prefix
    assert runner.prefixes.hits == 2 and len(runner.prefixes) == 1
    assert warm[1].text == cold.text and warm[1].tokens == cold.tokens
