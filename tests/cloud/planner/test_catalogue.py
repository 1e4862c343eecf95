"""Tests for cloud/planner/catalogue.py: tools per domain, arg schemas, the prompt listing."""

from __future__ import annotations

from cloud.fleet import DOMAIN_ACTIONS, Device
from cloud.planner.catalogue import ToolSpec, describe, is_device_action, output_fields, tools_for
from cloud.planner.conform import check
from tests.cloud.planner.sample_home import home_devices


def _by_name(devices: list[Device]) -> dict[str, ToolSpec]:
    return {tool.name: tool for tool in tools_for(devices)}


def test_device_actions_follow_the_domains_present() -> None:
    devices = home_devices()
    tools = _by_name(devices)
    domains = {d.domain for d in devices}
    expected = {f"{dom}.{svc}" for dom in domains for svc in DOMAIN_ACTIONS.get(dom, {})}
    assert {name for name in tools if "." in name} == expected
    assert {"get_state", "wait", "notify", "condition"} <= set(tools)
    assert "sensor.turn_on" not in tools


def test_device_id_enum_holds_only_devices_of_that_domain() -> None:
    tools = _by_name(home_devices())
    lights = tools["light.turn_on"].args["properties"]["device_id"]["enum"]
    assert sorted(lights) == ["light.bedroom", "light.kitchen", "light.living", "light.office"]
    locks = tools["lock.unlock"].args["properties"]["device_id"]["enum"]
    assert locks == ["lock.front"]
    everything = tools["get_state"].args["properties"]["device_id"]["enum"]
    assert len(everything) == len(home_devices())


def test_no_devices_leaves_only_the_generic_tools() -> None:
    assert [tool.name for tool in tools_for([])] == ["wait", "notify", "condition"]


def test_domains_absent_give_no_actions() -> None:
    only_lock = [d for d in home_devices() if d.domain == "lock"]
    names = {tool.name for tool in tools_for(only_lock)}
    assert names == {"get_state", "wait", "notify", "condition", "lock.lock", "lock.unlock"}


def test_arg_ranges_and_references() -> None:
    tools = _by_name(home_devices())
    temp = tools["climate.set_temperature"].args
    assert check({"device_id": "climate.bedroom", "temperature": 22}, temp) is None
    assert check({"device_id": "climate.bedroom", "temperature": 36}, temp) is not None
    assert check({"device_id": "climate.bedroom", "temperature": 4.5}, temp) is not None
    assert check({"device_id": "climate.bedroom", "temperature": "$s1.value"}, temp) is None
    assert check({"device_id": "climate.bedroom", "temperature": "warm"}, temp) is not None
    light = tools["light.turn_on"].args
    assert check({"device_id": "light.kitchen"}, light) is None  # turn_on args are optional
    assert check({"device_id": "light.kitchen", "brightness_pct": 100}, light) is None
    assert check({"device_id": "light.kitchen", "brightness_pct": 101}, light) is not None
    assert check({"device_id": "light.kitchen", "color_name": "chartreuse"}, light) is not None
    assert check({"device_id": "climate.bedroom"}, temp, "args") == "args: missing 'temperature'"
    wait = tools["wait"].args
    assert check({"seconds": 86_400}, wait) is None
    assert check({"seconds": 86_401}, wait) is not None
    assert check({"seconds": 1.5}, wait) is not None  # whole seconds only
    assert check({"message": "x" * 201}, tools["notify"].args) is not None
    condition = tools["condition"].args
    assert check({"left": "$s1.value", "op": "gt", "right": 26}, condition) is None
    assert check({"left": 1, "op": "between", "right": 2}, condition) is not None


def test_device_action_names() -> None:
    assert is_device_action("light.turn_on")
    assert is_device_action("alarm_control_panel.alarm_disarm")
    assert not is_device_action("light.explode")
    assert not is_device_action("get_state")
    assert output_fields("condition") == frozenset({"value"})
    assert output_fields("wait") == frozenset()
    assert output_fields("get_state") is None
    assert output_fields("light.turn_on") is None


def test_describe_lists_devices_under_their_domains_actions_and_the_generic_tools() -> None:
    text = describe(home_devices())
    lines = text.splitlines()
    climate = lines.index("climate: set_temperature(temperature: 5-35); turn_on; turn_off; "
                          "set_hvac_mode(hvac_mode: off|heat|cool|auto|heat_cool|dry|fan_only)")
    assert lines[climate + 1] == "- climate.bedroom | 卧室空调 | 卧室"
    assert "- vacuum.robot | Robot vacuum | -" in lines
    assert any(line.startswith("light: turn_on(brightness_pct?: 0-100, color_name?: white|") for line in lines)
    assert "sensor: get_state only" in lines
    assert lines[-1] == ("tools: get_state(device_id); wait(seconds: 0-86400); notify(message); "
                         "condition(left, op: eq|ne|gt|ge|lt|le, right)")
    assert describe(list(reversed(home_devices()))) == text  # order of the registry does not matter
    assert len(text) < 1500  # about half the one-tool-a-line listing: the prompt is most of the attention cost


def test_describe_without_devices_lists_the_generic_tools_only() -> None:
    assert describe([]) == ("tools: wait(seconds: 0-86400); notify(message); "
                            "condition(left, op: eq|ne|gt|ge|lt|le, right)")
