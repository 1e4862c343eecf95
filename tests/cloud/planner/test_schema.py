"""Tests for cloud/planner/schema.py: xgrammar compiles it, and it agrees with validate_plan on random plans."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import xgrammar as xgr

from cloud.fleet import DOMAIN_ACTIONS, Caller, Device
from cloud.planner.catalogue import PERCENT_RANGE, STRING_ENUMS, tools_for
from cloud.planner.schema import plan_schema, plan_to_json
from cloud.planner.validate import validate_plan
from shared.errors import PermissionDeniedError, PlanValidationError
from shared.plan import MAX_STEPS, Plan
from tests.cloud.planner.sample_home import home_caller, home_devices, plan_of

SEPARATORS = (",", ":")


class GrammarCheck:
    """Whether a grammar compiled from a schema accepts whole strings (no tokenizer: string-level matching)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        compiler = xgr.GrammarCompiler(xgr.TokenizerInfo([]), cache_enabled=False)
        compiled = compiler.compile_json_schema(json.dumps(schema), any_whitespace=False, separators=SEPARATORS)
        self.matcher = xgr.GrammarMatcher(compiled, terminate_without_stop_token=True)

    def accepts(self, text: str) -> bool:
        self.matcher.reset()
        return bool(self.matcher.accept_string(text)) and bool(self.matcher.is_terminated())


def _pool(size: int, rng: random.Random) -> list[Device]:
    domains = list(DOMAIN_ACTIONS)
    devices = []
    for i in range(size):
        domain = domains[i % len(domains)]
        # Every domain gets a device on each site first, then sites are drawn at random.
        site = "home" if i < len(domains) or (i >= 2 * len(domains) and rng.random() < 0.8) else "office"
        device_class = rng.choice(["garage", "blind", None]) if domain == "cover" else None
        devices.append(Device(f"{domain}.d{i}", "edge-1", site, domain, f"Device {i}", "area", device_class))
    return devices


@pytest.mark.parametrize("count", [0, 1, 50])
def test_the_schema_compiles_for_any_fleet_size(count: int) -> None:
    devices = _pool(count, random.Random(count))
    schema = plan_schema(devices)
    assert "$ref" not in json.dumps(schema)
    xgr.Grammar.from_json_schema(json.dumps(schema), any_whitespace=False)
    check = GrammarCheck(schema)
    assert check.accepts('{"steps":[{"id":"s1","tool":"wait","args":{"seconds":5},"after":[]}]}')
    assert not check.accepts('{"steps":[]}')


def test_the_grammar_names_only_known_devices_and_domain_actions() -> None:
    visible = [d for d in home_devices() if d.site == "home"]
    check = GrammarCheck(plan_schema(visible))
    def accepts(*steps: tuple[str, str, dict[str, Any], list[str]]) -> bool:
        return check.accepts(plan_to_json(plan_of(*steps)))
    assert accepts(("s1", "light.turn_on", {"device_id": "light.kitchen", "brightness_pct": 40}, []))
    assert accepts(("s1", "get_state", {"device_id": "sensor.bedroom_temperature"}, []),
                   ("s2", "condition", {"left": "$s1.value", "op": "gt", "right": 26}, ["s1"]),
                   ("s3", "climate.set_temperature", {"device_id": "climate.bedroom", "temperature": 24.5}, ["s2"]),
                   ("s4", "notify", {"message": "卧室 $s1.value 度"}, ["s3"]))
    assert not accepts(("s1", "light.turn_on", {"device_id": "light.garden"}, []))  # unknown device
    assert not accepts(("s1", "light.turn_on", {"device_id": "light.office"}, []))  # another site's device
    assert not accepts(("s1", "lock.unlock", {"device_id": "light.kitchen"}, []))  # not a lock
    assert not accepts(("s1", "sensor.turn_on", {"device_id": "sensor.bedroom_temperature"}, []))
    assert not accepts(("s1", "climate.set_temperature", {"device_id": "climate.bedroom", "temperature": 40}, []))
    assert not accepts(("s1", "light.turn_on", {"device_id": "light.kitchen", "speed": 2}, []))
    assert not accepts(("s1", "wait", {"seconds": 5}, ["x1"]))


def test_max_steps_bounds_the_plan() -> None:
    check = GrammarCheck(plan_schema([], max_steps=2))
    def waits(count: int) -> str:
        steps = ",".join(f'{{"id":"s{i}","tool":"wait","args":{{"seconds":1}},"after":[]}}' for i in range(count))
        return f'{{"steps":[{steps}]}}'
    assert check.accepts(waits(2))
    assert not check.accepts(waits(3))
    with pytest.raises(ValueError):
        plan_schema([], max_steps=MAX_STEPS + 1)


def test_plan_to_json_writes_keys_in_schema_order() -> None:
    plan = Plan.model_validate({"steps": [{"after": [], "args": {"color_name": "red", "device_id": "light.kitchen",
                                                                 "brightness_pct": 10},
                                           "tool": "light.turn_on", "id": "s1"}]})
    assert plan_to_json(plan) == ('{"steps":[{"id":"s1","tool":"light.turn_on","args":{"device_id":"light.kitchen",'
                                  '"brightness_pct":10,"color_name":"red"},"after":[]}]}')


# -- random plans: validate_plan and the grammar agree ------------------------------------------------------------

#: Mutations both the grammar and validate_plan must refuse.
SCHEMA_BREAKS = ("unknown_device", "wrong_domain", "other_site", "out_of_range", "extra_arg", "missing_arg",
                 "quote_in_message", "long_decimal")
#: Mutations only validate_plan can see (graph shape); the grammar lets them through.
GRAPH_BREAKS = ("dangling_after", "cycle", "unlisted_reference")


def _value(name: str, kind: str, rng: random.Random) -> Any:
    if kind == "string":
        return rng.choice(STRING_ENUMS[name])
    low, high = (5.0, 35.0) if name == "temperature" else PERCENT_RANGE
    return rng.choice([int(rng.uniform(low, high)), round(rng.uniform(low, high), rng.randint(1, 6))])


def _random_step(index: int, visible: list[Device], rng: random.Random, earlier: list[dict[str, Any]]
                 ) -> dict[str, Any]:
    step_id = f"s{index}"
    after = sorted(rng.sample([s["id"] for s in earlier], k=min(len(earlier), rng.randint(0, 2))))
    states = [s for s in earlier if s["tool"] == "get_state" and s["id"] in after]
    roll = rng.random()
    if visible and roll < 0.55:
        device = rng.choice(visible)
        services = DOMAIN_ACTIONS.get(device.domain, {})
        if not services or rng.random() < 0.2:
            return {"id": step_id, "tool": "get_state", "args": {"device_id": device.device_id}, "after": after}
        service = rng.choice(list(services))
        args: dict[str, Any] = {"device_id": device.device_id}
        for name, kind in services[service].items():
            if service != "turn_on" or rng.random() < 0.5:
                args[name] = f"${states[0]['id']}.value" if kind == "number" and states else _value(name, kind, rng)
        return {"id": step_id, "tool": f"{device.domain}.{service}", "args": args, "after": after}
    if roll < 0.7:
        return {"id": step_id, "tool": "wait", "args": {"seconds": rng.randint(0, 86_400)}, "after": after}
    if roll < 0.85:
        ref = f" ${states[0]['id']}.value" if states else ""
        message = rng.choice(["Done", "已完成", "Bedroom is hot", "门开着"]) + ref
        return {"id": step_id, "tool": "notify", "args": {"message": message}, "after": after}
    left: Any = f"${states[0]['id']}.value" if states else rng.choice([1, 2.5, "on", True])
    right = rng.choice([26, -3.5, "ON", False, 1e20])
    op = rng.choice(["eq", "ne", "gt", "ge", "lt", "le"])
    return {"id": step_id, "tool": "condition", "args": {"left": left, "op": op, "right": right}, "after": after}


def _mutate(steps: list[dict[str, Any]], kind: str, devices: list[Device], rng: random.Random) -> None:
    target = steps[-1]
    own = [d for d in devices if d.site == "home"]
    if kind in ("unknown_device", "wrong_domain", "other_site", "out_of_range", "missing_arg"):
        target["after"] = []
        if kind == "unknown_device":
            target.update(tool="light.turn_on", args={"device_id": "light.not_there"})
        elif kind == "wrong_domain":
            target.update(tool="lock.unlock", args={"device_id": next(d.device_id for d in own if d.domain == "light")})
        elif kind == "other_site":
            far = next(d for d in devices if d.site != "home" and d.domain == "light")
            target.update(tool="light.turn_on", args={"device_id": far.device_id})
        elif kind == "out_of_range":
            climate = next(d for d in own if d.domain == "climate")
            target.update(tool="climate.set_temperature", args={"device_id": climate.device_id,
                                                                "temperature": rng.choice([4, 36, 99.5])})
        else:
            fan = next(d for d in own if d.domain == "fan")
            target.update(tool="fan.set_percentage", args={"device_id": fan.device_id})
    elif kind == "extra_arg":
        target["args"]["colour"] = "red"
    elif kind == "quote_in_message":
        target.update(tool="notify", args={"message": 'the "door" is open'})
    elif kind == "long_decimal":
        target.update(tool="wait", args={"seconds": 1}, after=[])
        steps.append({"id": "s99", "tool": "condition", "args": {"left": 1, "op": "eq", "right": 2}, "after": []})
        light = next(d for d in own if d.domain == "light")
        steps.append({"id": "s98", "tool": "light.turn_on",
                      "args": {"device_id": light.device_id, "brightness_pct": 12.3456789}, "after": []})
    elif kind == "dangling_after":
        target["after"] = [*target["after"], "s77"]
    elif kind == "cycle":
        steps[0]["after"] = [target["id"]]
        target["after"] = sorted({*target["after"], steps[0]["id"]})
    else:  # a reference to an earlier step that is not in after
        steps.append({"id": "s90", "tool": "get_state", "args": {"device_id": own[0].device_id}, "after": []})
        steps.append({"id": "s91", "tool": "notify", "args": {"message": "x $s90.value"}, "after": []})


def test_random_plans_accepted_by_validation_conform_to_the_grammar() -> None:
    rng = random.Random(20261125)
    accepted = refused_by_both = 0
    for _round in range(10):
        devices = _pool(rng.randint(25, 60), rng)
        caller = Caller("op", "operator", frozenset({"home"}))
        visible = [d for d in devices if caller.sees(d.site)]
        check = GrammarCheck(plan_schema(visible))
        for _ in range(50):
            steps: list[dict[str, Any]] = []
            for index in range(1, rng.randint(2, 8)):
                steps.append(_random_step(index, visible, rng, steps))
            mutation = rng.choice([None] * 10 + list(SCHEMA_BREAKS + GRAPH_BREAKS))
            if mutation is not None:
                _mutate(steps, mutation, devices, rng)
            plan = Plan.model_validate({"steps": steps})
            text = plan_to_json(plan)
            try:
                validate_plan(plan, devices, caller=caller)
                valid = True
            except (PlanValidationError, PermissionDeniedError):
                valid = False
            grammar = check.accepts(text)
            if mutation is None:
                assert valid and grammar, text
                accepted += 1
            elif mutation in SCHEMA_BREAKS:
                assert not valid and not grammar, (mutation, text)
                refused_by_both += 1
            else:
                assert not valid and grammar, (mutation, text)
    assert accepted >= 200
    assert refused_by_both >= 50


def test_the_checker_is_not_vacuous() -> None:
    """Negative control: a grammar over other devices refuses plans that the home validator accepts."""
    home = [d for d in home_devices() if d.site == "home"]
    plan = plan_of(("s1", "light.turn_on", {"device_id": "light.kitchen"}, []))
    assert validate_plan(plan, home, caller=home_caller()) == []
    assert GrammarCheck(plan_schema(home)).accepts(plan_to_json(plan))
    assert not GrammarCheck(plan_schema([d for d in home if d.domain != "light"])).accepts(plan_to_json(plan))
    assert len(tools_for(home)) > len(tools_for([d for d in home if d.domain != "light"]))
