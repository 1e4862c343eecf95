"""The per-request plan grammar: what it accepts, what it refuses, and that random walks through it validate."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
import xgrammar as xgr

from cloud.fleet import Device
from cloud.planner.closing import Closer, allowed_tokens
from cloud.planner.conform import check
from cloud.planner.plan_grammar import int_range, plan_grammar, steps_for
from cloud.planner.schema import plan_schema
from cloud.planner.tiny.tokenizer import train_tokenizer
from cloud.planner.validate import validate_plan
from shared.plan import Plan
from tests.cloud.planner.sample_home import home_caller, home_devices

HOME = [d for d in home_devices() if d.site == "home"]
GOOD = [
    # D's "if the bedroom is over 26 degrees, cool it and tell me" shape: get_state -> condition -> act, notify.
    '{"steps":[{"id":"s1","tool":"get_state","args":{"device_id":"sensor.bedroom_temperature"},"after":[]},'
    '{"id":"s2","tool":"condition","args":{"left":"$s1.value","op":"gt","right":26},"after":["s1"]},'
    '{"id":"s3","tool":"climate.set_hvac_mode","args":{"device_id":"climate.bedroom","hvac_mode":"cool"},'
    '"after":["s2"]},{"id":"s4","tool":"notify","args":{"message":"开空调了"},"after":["s2"]}]}',
    '{"steps":[{"id":"s1","tool":"light.turn_on","args":{"device_id":"light.kitchen","brightness_pct":55.5},'
    '"after":[]}]}',
    '{"steps":[{"id":"s1","tool":"wait","args":{"seconds":600},"after":[]},{"id":"s2","tool":"light.turn_off",'
    '"args":{"device_id":"light.kitchen"},"after":["s1"]},{"id":"s3","tool":"notify","args":{"message":"x"},'
    '"after":["s1","s2"]}]}',
    '{"steps":[{"id":"s1","tool":"get_state","args":{"device_id":"light.kitchen"},"after":[]},{"id":"s2",'
    '"tool":"light.turn_on","args":{"device_id":"light.living","brightness_pct":"$s1.value"},"after":["s1"]},'
    '{"id":"s3","tool":"notify","args":{"message":"$s2.value"},"after":["s1","s2"]}]}',
]
BAD = {
    "reference to a step without a value": '{"steps":[{"id":"s1","tool":"wait","args":{"seconds":5},"after":[]},'
                                           '{"id":"s2","tool":"notify","args":{"message":"$s1.value"},"after":["s1"]}]}',
    "reference not in after": '{"steps":[{"id":"s1","tool":"get_state","args":{"device_id":"light.kitchen"},'
                              '"after":[]},{"id":"s2","tool":"condition","args":{"left":"$s1.value","op":"eq",'
                              '"right":"ON"},"after":[]}]}',
    "id out of order": '{"steps":[{"id":"s2","tool":"wait","args":{"seconds":5},"after":[]}]}',
    "duplicate in after": '{"steps":[{"id":"s1","tool":"wait","args":{"seconds":5},"after":[]},{"id":"s2",'
                          '"tool":"wait","args":{"seconds":5},"after":["s1","s1"]}]}',
    "after names a later step": '{"steps":[{"id":"s1","tool":"wait","args":{"seconds":5},"after":["s2"]},'
                                '{"id":"s2","tool":"wait","args":{"seconds":5},"after":[]}]}',
    "out of range": '{"steps":[{"id":"s1","tool":"light.turn_on","args":{"device_id":"light.kitchen",'
                    '"brightness_pct":100.5},"after":[]}]}',
    "wrong domain": '{"steps":[{"id":"s1","tool":"lock.lock","args":{"device_id":"light.kitchen"},"after":[]}]}',
    "unseen device": '{"steps":[{"id":"s1","tool":"light.turn_on","args":{"device_id":"light.office"},"after":[]}]}',
    "hidden inline reference": '{"steps":[{"id":"s1","tool":"notify","args":{"message":"a $s1.value"},"after":[]}]}',
    "too many steps": '{"steps":[' + ",".join(
        f'{{"id":"s{k}","tool":"wait","args":{{"seconds":1}},"after":[]}}' for k in range(1, len(HOME) + 6)) + "]}",
}


@pytest.fixture(scope="module")
def compiler_and_tokenizer() -> tuple[xgr.GrammarCompiler, Closer, int]:
    tokenizer = train_tokenizer([f"{d.device_id} {d.name} {d.domain}" for d in HOME] * 3 + GOOD, vocab_size=400)
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer), stop_token_ids=[1])
    return xgr.GrammarCompiler(info), Closer(tokenizer, info), len(tokenizer)


def accepts(compiler: xgr.GrammarCompiler, grammar: str, text: str) -> bool:
    matcher = xgr.GrammarMatcher(compiler.compile_grammar(grammar), terminate_without_stop_token=True)
    return bool(matcher.accept_string(text)) and bool(matcher.is_terminated())


@pytest.mark.parametrize(("low", "high"), [(0, 100), (5, 34), (0, 86_400), (7, 7), (0, 9), (10, 99), (95, 105)])
def test_int_range_matches_exactly_the_integers_in_range(low: int, high: int) -> None:
    pattern = re.compile("^" + int_range(low, high).replace('"', "").replace(" ", "") + "$")
    numbers = [*range(0, 2 * high + 20), *range(10 * high, 10 * high + 20), 100 * high + 1]
    wrong = [n for n in numbers if bool(pattern.match(str(n))) != (low <= n <= high)]
    assert not wrong, wrong[:5]


def test_good_plans_are_in_the_grammar_and_validate(compiler_and_tokenizer: tuple[xgr.GrammarCompiler, Closer,
                                                                                   int]) -> None:
    compiler = compiler_and_tokenizer[0]
    grammar = plan_grammar(HOME)
    for text in GOOD:
        assert accepts(compiler, grammar, text), text
        validate_plan(Plan.model_validate_json(text), HOME, caller=home_caller())


@pytest.mark.parametrize("name", sorted(BAD))
def test_plans_that_would_not_validate_are_outside_the_grammar(
        name: str, compiler_and_tokenizer: tuple[xgr.GrammarCompiler, Closer, int]) -> None:
    assert not accepts(compiler_and_tokenizer[0], plan_grammar(HOME), BAD[name])


def test_random_walks_through_the_grammar_are_valid_plans(
        compiler_and_tokenizer: tuple[xgr.GrammarCompiler, Closer, int]) -> None:
    """Uniformly random allowed tokens, then the closing path: every result parses, conforms and validates."""
    compiler, closer, vocab = compiler_and_tokenizer
    rng = np.random.default_rng(7)
    pick = random.Random(7)
    bitmask = xgr.allocate_token_bitmask(1, vocab)
    shapes: set[tuple[str, ...]] = set()
    homes = [pick.sample(HOME, size) for size in (0, 1, 3, 6, len(HOME))]
    for walk in range(60):
        devices = homes[walk % len(homes)]
        compiled = compiler.compile_grammar(plan_grammar(devices, max_steps=4))
        matcher = xgr.GrammarMatcher(compiled, terminate_without_stop_token=True)
        tokens: list[int] = []
        while not matcher.is_terminated() and len(tokens) < 60 + walk * 4:
            matcher.fill_next_token_bitmask(bitmask, 0)
            token = int(rng.choice(np.flatnonzero(allowed_tokens(bitmask[0], vocab))))
            assert matcher.accept_token(token)
            tokens.append(token)
        path = closer.path(matcher)
        assert path is not None
        tokens += path
        text = closer.tokenizer.decode(tokens)
        plan = Plan.model_validate_json(text)
        assert check(json.loads(text), plan_schema(devices, max_steps=4)) is None, text
        validate_plan(plan, devices, caller=home_caller())
        shapes.add(tuple(step.tool for step in plan.steps))
    assert len(shapes) > 20  # the walks explore the grammar rather than repeat one plan


def test_no_devices_leaves_the_generic_tools() -> None:
    grammar = plan_grammar([])
    assert "get_state" not in grammar and '\\"wait\\"' in grammar and '\\"notify\\"' in grammar


def test_the_step_bound_grows_with_the_home() -> None:
    assert steps_for([]) == 8 and steps_for(HOME) == len(HOME) + 4
    assert steps_for(HOME * 3) == 32
    twelve = ",".join(f'{{"id":"s{k}","tool":"wait","args":{{"seconds":1}},"after":[]}}' for k in range(1, 13))
    compiler = xgr.GrammarCompiler(xgr.TokenizerInfo([chr(c).encode() for c in range(128)]))
    assert accepts(compiler, plan_grammar(HOME), '{"steps":[' + twelve + "]}")
    assert not accepts(compiler, plan_grammar(HOME[:2]), '{"steps":[' + twelve + "]}")


def test_max_steps_is_bounded() -> None:
    with pytest.raises(ValueError, match="max_steps"):
        plan_grammar(HOME, max_steps=0)
    with pytest.raises(ValueError, match="max_steps"):
        plan_grammar(HOME, max_steps=33)


def test_devices_with_odd_ids_are_quoted() -> None:
    odd = [Device('light."quoted"\\id', "e1", "home", "light", "Odd", None)]
    compiler = xgr.GrammarCompiler(xgr.TokenizerInfo([chr(c).encode() for c in range(128)]))
    text = json.dumps({"steps": [{"id": "s1", "tool": "light.toggle", "args": {"device_id": odd[0].device_id},
                                  "after": []}]}, separators=(",", ":"))
    assert accepts(compiler, plan_grammar(odd), text)
