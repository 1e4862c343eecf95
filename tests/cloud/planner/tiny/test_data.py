"""The generator of (home, instruction, plan) triples: determinism, validity, held-out compositions, semantics."""

from __future__ import annotations

import json
import random
import re

import pytest

from cloud.fleet import DOMAIN_ACTIONS, Caller, Device
from cloud.planner.prompt import PLAN_SEPARATORS
from cloud.planner.schema import plan_to_json
from cloud.planner.tiny.data import HELD_OUT, Example, generate, held_out
from cloud.planner.tiny.homes import random_home
from cloud.planner.tiny.patterns import OFF_DOMAINS
from cloud.planner.validate import validate_plan
from shared.plan import REFERENCE, Plan, Tool

ADMIN = Caller(subject="test", role="admin")
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def train() -> list[Example]:
    return list(generate("train", 600, seed=7))


@pytest.fixture(scope="module")
def heldout() -> list[Example]:
    return list(generate("heldout", 4 * len(HELD_OUT), seed=7))


def test_same_seed_same_examples_other_seed_other_examples() -> None:
    def key(examples: list[Example]) -> list[tuple[str, str]]:
        return [(e.text, e.target()) for e in examples]

    assert key(list(generate("train", 50, seed=3))) == key(list(generate("train", 50, seed=3)))
    assert key(list(generate("train", 50, seed=3))) != key(list(generate("train", 50, seed=4)))
    assert key(list(generate("train", 50, seed=3))) != key(list(generate("test", 50, seed=3)))


def test_unknown_split_is_refused() -> None:
    with pytest.raises(ValueError, match="split"):
        list(generate("validation", 1, seed=0))


def test_homes_have_unique_ids_and_names_and_known_domains() -> None:
    rng = random.Random(1)
    for _ in range(200):
        home = random_home(rng, min_devices=3, max_devices=16)
        fleet = home.fleet()
        assert 1 <= len(fleet) <= 16
        assert all(isinstance(d, Device) for d in fleet)
        assert len({d.device_id for d in fleet}) == len(fleet)
        assert len({d.name for d in fleet}) == len(fleet)
        assert all(d.domain in DOMAIN_ACTIONS for d in fleet)
        assert [d.device_id for d in fleet] == sorted(d.device_id for d in fleet)  # the prompt's listing order
        assert all(hd.name_zh and HAN.search(hd.name_zh) for hd in home.devices)


def test_every_plan_is_valid_for_its_home_and_names_only_its_devices(train: list[Example],
                                                                     heldout: list[Example]) -> None:
    for example in train + heldout:
        plan = Plan.model_validate(example.plan)
        devices = example.home.fleet()
        validate_plan(plan, devices, caller=ADMIN)  # raises PlanValidationError on any problem
        ids = {d.device_id for d in devices}
        named = {s.args["device_id"] for s in plan.steps if "device_id" in s.args}
        assert named <= ids, example.text
        assert [s.id for s in plan.steps] == [f"s{i}" for i in range(1, len(plan.steps) + 1)]


def test_target_is_compact_json_in_schema_order(train: list[Example]) -> None:
    for example in train[:200]:
        target = example.target()
        assert json.loads(target) == example.plan
        assert target == plan_to_json(Plan.model_validate(example.plan), separators=PLAN_SEPARATORS)
        assert '": ' not in target and '", "' not in target


def test_both_languages_and_every_pattern_appear(train: list[Example]) -> None:
    languages = {e.language for e in train}
    assert {"en", "zh"} <= languages or {"en", "zh-cn"} <= languages
    assert all(HAN.search(e.text) for e in train if e.language.startswith("zh"))
    assert not any(HAN.search(e.text) for e in train if e.language == "en")
    patterns = {e.tags[0].split(":")[0] for e in train}
    assert {"single", "set", "area", "query", "multi", "scene", "cond", "for", "delay", "notify"} <= patterns


def test_held_out_compositions_never_reach_training(train: list[Example], heldout: list[Example]) -> None:
    test = list(generate("test", 300, seed=7))
    assert not any(held_out(e.tags) for e in train + test)
    assert all(held_out(e.tags) for e in heldout)
    assert {t for e in heldout for t in e.tags if t in HELD_OUT} == HELD_OUT


def test_held_out_check_can_fail() -> None:
    assert held_out(("multi:cover+light", "pair:cover+light"))
    assert not held_out(("multi:cover+switch", "pair:cover+switch"))


def test_conditional_reads_compares_then_acts(train: list[Example]) -> None:
    conds = [e for e in train if e.tags[0].startswith("cond:temperature") or e.tags[0].startswith("cond:humidity")]
    assert conds
    for example in conds:
        steps = example.plan["steps"]
        assert steps[0]["tool"] == Tool.GET_STATE.value and steps[0]["after"] == []
        assert steps[1]["tool"] == Tool.CONDITION.value and steps[1]["after"] == ["s1"]
        assert REFERENCE.match(steps[1]["args"]["left"]) and steps[1]["args"]["op"] in ("gt", "lt")
        assert str(steps[1]["args"]["right"]) in example.text
        assert "." in steps[2]["tool"] and steps[2]["after"] == ["s2"]
        if len(steps) == 4:
            assert steps[3]["tool"] == Tool.NOTIFY.value and steps[3]["after"] == ["s2"]
            assert steps[3]["args"]["message"] in example.text


def test_for_a_duration_is_on_wait_off(train: list[Example]) -> None:
    timed = [e for e in train if e.tags[0].startswith("for:")]
    assert timed
    for example in timed:
        on, wait, off = example.plan["steps"]
        assert on["tool"].endswith(".turn_on") and off["tool"].endswith(".turn_off")
        assert on["args"] == off["args"]
        assert wait["tool"] == "wait" and wait["args"]["seconds"] > 0
        assert (wait["after"], off["after"]) == (["s1"], ["s2"])


def test_leaving_turns_everything_off_and_locks_up() -> None:
    leaving = [e for e in generate("train", 3000, seed=11) if e.tags[0] == "scene:leave"]
    assert leaving
    for example in leaving:
        tools = {s["args"]["device_id"]: s["tool"] for s in example.plan["steps"]}
        for hd in example.home.devices:
            domain = hd.device.domain
            expected = "lock.lock" if domain == "lock" else f"{domain}.turn_off" if domain in OFF_DOMAINS else None
            assert tools.get(hd.device.device_id) == expected, example.text
