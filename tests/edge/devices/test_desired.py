"""desired_commands: desired twin values -> the commands that get a device there."""

from __future__ import annotations

import json

import pytest

from edge.devices.desired import desired_commands
from edge.devices.entity import Command, Entity
from shared.discovery import parse_discovery
from shared.errors import UnsupportedActionError


def entity(component: str, config: dict[str, object]) -> Entity:
    parsed = parse_discovery(component, json.dumps(config))
    assert parsed is not None
    return Entity.from_config(parsed, f"homeassistant/{component}/x/config")


LIGHT = entity("light", {"unique_id": "l1", "name": "Lamp", "schema": "json", "brightness": True,
                         "brightness_scale": 100, "state_topic": "l1/state", "command_topic": "l1/set"})
CLIMATE = entity("climate", {"unique_id": "c1", "name": "Thermostat", "modes": ["off", "heat", "cool"],
                             "mode_command_topic": "c1/mode/set", "temperature_command_topic": "c1/temp/set"})
LOCK = entity("lock", {"unique_id": "k1", "name": "Door", "state_topic": "k1/state", "command_topic": "k1/set"})


def test_only_properties_not_yet_reported_become_commands() -> None:
    assert desired_commands(LIGHT, {"state": "ON"}, {"state": "ON"}) == []
    assert desired_commands(LIGHT, {"state": "ON"}, {"state": "OFF"}) == [Command("turn_on")]
    assert desired_commands(LOCK, {"state": "UNLOCKED"}, {"state": "LOCKED"}) == [Command("unlock")]


def test_units_follow_the_device_config() -> None:
    # brightness is in the device's own scale (here 0..100), set_brightness takes percent
    assert desired_commands(LIGHT, {"state": "ON", "brightness": 40}, {"state": "OFF"}) == [
        Command("set_brightness", 40.0)]
    assert desired_commands(CLIMATE, {"hvac_mode": "off", "target_temperature": 21}, {}) == [
        Command("turn_off"), Command("set_temperature", 21.0)]


def test_off_wins_over_levels_that_would_turn_the_light_on() -> None:
    assert desired_commands(LIGHT, {"state": "OFF", "brightness": 40}, {"state": "ON"}) == [Command("turn_off")]


@pytest.mark.parametrize("desired", [{"state": "sideways"}, {"colour": "red"}, {"brightness": "bright"}])
def test_unsupported_desired_values_are_refused(desired: dict[str, object]) -> None:
    with pytest.raises(UnsupportedActionError):
        desired_commands(LIGHT, desired, {})
