"""Tests for shared/payloads.py: device state/command shapes and the `value_json` template evaluator."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import BaseModel

from shared.codec import decode, validate
from shared.errors import ContractError, PayloadError
from shared.payloads import (
    STATE_MODELS,
    ClimateState,
    CoverState,
    LightCommand,
    LightState,
    LockState,
    MediaPlayerState,
    UnsupportedTemplateError,
    VacuumState,
    extract,
)

# --- device state payloads -------------------------------------------------------------------


def test_zigbee2mqtt_light_state() -> None:
    raw = (
        b'{"brightness":254,"color":{"hue":26,"saturation":81,"x":0.4599,"y":0.4106},'
        b'"color_mode":"xy","color_temp":370,"linkquality":87,"state":"ON","update":{"state":"idle"}}'
    )
    state = decode(LightState, raw)
    assert state.state == "ON"
    assert state.brightness == 254
    assert state.color_mode == "xy"
    assert state.color is not None and (state.color.x, state.color.y) == (0.4599, 0.4106)
    assert state.color.model_extra == {"hue": 26, "saturation": 81}
    assert state.model_extra is not None and state.model_extra["linkquality"] == 87


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (LightState, {"state": "on"}, "state"),
        (LightState, {"state": "ON", "brightness": "full"}, "brightness"),
        (LightState, {"state": "ON", "brightness": -1}, "brightness"),
        (LightState, {"state": "ON", "brightness": 65536}, "brightness"),
        (LightState, {"state": "ON", "brightness": 12.5}, "brightness"),
        (LightState, {"state": "ON", "color_temp": 1001}, "color_temp"),
        (LightState, {"state": "ON", "color": {"x": 1.5}}, "color.x"),
        (LightState, {"state": "ON", "color": {"h": 361}}, "color.h"),
        (LightState, {"state": "ON", "color": {"r": "ff"}}, "color.r"),
        (LightCommand, {"state": "TOGGLE"}, "state"),
        (LightCommand, {"state": "ON", "flash": 2}, "flash"),
        (LightCommand, {"transition": -1}, "transition"),
        (LightCommand, {"transition": "slow"}, "transition"),
        (ClimateState, {"system_mode": "boost"}, "system_mode"),
        (ClimateState, {"system_mode": "heat", "current_temperature": "warm"}, "current_temperature"),
        (ClimateState, {"current_temperature": 21.5}, "system_mode"),
        (CoverState, {"position": 101}, "position"),
        (CoverState, {"state": "ajar"}, "state"),
        (LockState, {"state": "OPEN"}, "state"),
        (VacuumState, {"state": "docked", "battery_level": 120}, "battery_level"),
        (MediaPlayerState, {"state": "playing", "volume": 1.5}, "volume"),
        (MediaPlayerState, {"state": "PLAYING"}, "state"),
    ],
)
def test_bad_state_names_the_field(model: type[BaseModel], data: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as info:
        validate(model, data)
    assert info.value.field == field
    assert info.value.model == model.__name__


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (LightCommand, {"transition": math.nan}, "transition"),
        (LightCommand, {"transition": math.inf}, "transition"),
        (ClimateState, {"system_mode": "heat", "current_temperature": math.inf}, "current_temperature"),
        (ClimateState, {"system_mode": "heat", "occupied_heating_setpoint": -math.inf}, "occupied_heating_setpoint"),
        (LightState, {"state": "ON", "color": {"x": math.nan}}, "color.x"),
        (MediaPlayerState, {"state": "on", "volume": math.nan}, "volume"),
    ],
)
def test_non_finite_numbers_are_rejected_by_the_models(
    model: type[BaseModel], data: dict[str, Any], field: str
) -> None:
    # Objects built in-process (not parsed from JSON) must not smuggle NaN or infinity either.
    with pytest.raises(PayloadError) as info:
        validate(model, data)
    assert info.value.field == field


def test_light_command_accepts_the_json_schema_shape() -> None:
    cmd = decode(LightCommand, b'{"state":"ON","brightness":128,"color":{"r":255,"g":120,"b":0},"transition":2}')
    assert (cmd.state, cmd.brightness, cmd.transition) == ("ON", 128, 2.0)
    assert cmd.color is not None and (cmd.color.r, cmd.color.g, cmd.color.b) == (255, 120, 0)


def test_other_state_models_accept_real_payloads() -> None:
    climate = decode(ClimateState, b'{"system_mode":"heat","current_temperature":19.5,"local_temperature":19.5}')
    assert climate.current_temperature == 19.5
    assert decode(CoverState, b'{"position":40,"state":"OPEN"}').position == 40
    assert decode(LockState, b'{"state":"LOCKED"}').state == "LOCKED"
    vacuum = decode(VacuumState, b'{"state":"cleaning","battery_level":61,"fan_speed":"max"}')
    assert (vacuum.state, vacuum.battery_level, vacuum.fan_speed) == ("cleaning", 61, "max")
    assert decode(MediaPlayerState, b'{"state":"playing","volume":0.35}').volume == 0.35


def test_state_models_cover_stateful_components() -> None:
    assert STATE_MODELS == {
        "light": LightState,
        "climate": ClimateState,
        "cover": CoverState,
        "lock": LockState,
        "vacuum": VacuumState,
        "media_player": MediaPlayerState,
    }


# --- extract: the value_json template evaluator ----------------------------------------------

PAYLOAD: dict[str, Any] = {
    "state": "ON",
    "brightness": 128,
    "a": {"b": {"c": 3}},
    "x": [10, 20, {"y": "deep"}],
    "ENERGY": {"Power": "42.5", "Total": 1.25},
    "with space": "ok",
    "flag": True,
    "nothing": None,
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ value_json.state }}", "ON"),
        ("{{value_json.state}}", "ON"),
        ("  {{ value_json.brightness }}  ", 128),
        ("{{ value_json.a.b.c }}", 3),
        ("{{ value_json['a'].b }}", {"c": 3}),
        ('{{ value_json["a"]["b"]["c"] }}', 3),
        ("{{ value_json['with space'] }}", "ok"),
        ("{{ value_json.x[0] }}", 10),
        ("{{ value_json.x[2].y }}", "deep"),
        ("{{ value_json.ENERGY.Power }}", "42.5"),
        ("{{ value_json.flag }}", True),
        ("{{ value_json.nothing }}", None),
    ],
)
def test_extract_paths(template: str, expected: Any) -> None:
    assert extract(template, PAYLOAD) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{ value_json.missing }}",
        "{{ value_json.a.missing }}",
        "{{ value_json.state.length }}",
        "{{ value_json.x[3] }}",
        "{{ value_json.x[0].y }}",
        "{{ value_json.a[0] }}",
        "{{ value_json['missing'].b }}",
    ],
)
def test_extract_missing_path_is_none(template: str) -> None:
    assert extract(template, PAYLOAD) is None


def test_extract_value_and_none_return_the_payload() -> None:
    assert extract("{{ value }}", "ON") == "ON"
    assert extract("{{value}}", PAYLOAD) is PAYLOAD
    assert extract(None, 21.5) == 21.5


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ value_json.ENERGY.Power | float }}", 42.5),
        ("{{ value_json.ENERGY.Total|float }}", 1.25),
        ("{{ value_json.brightness | float }}", 128.0),
        ("{{ value_json.ENERGY.Power | int }}", 42),
        ("{{ value_json.ENERGY.Total | int }}", 1),
        ("{{ value_json.brightness | string }}", "128"),
        ("{{ value_json.state | lower }}", "on"),
        ("{{ value_json.state | lower | upper }}", "ON"),
        ("{{ value_json.ENERGY.Power | float | int }}", 42),
        ("{{ value_json.state | float(0) }}", 0),
        ("{{ value_json.missing | float(0) }}", 0),
        ("{{ value_json.missing | int(-1) }}", -1),
        ("{{ value_json.state | float }}", None),
        ("{{ value_json.missing | float }}", None),
        ("{{ value_json.missing | lower }}", None),
        ("{{ value_json.state | float(default=0) }}", 0),
        ("{{ value_json.state | int(-1.5) }}", -1.5),
        ("{{ value_json.state | float() }}", None),
        ("{{ value | float }}", 42.5),
        ("{{ value | int }}", 42),
    ],
)
def test_extract_applies_filters(template: str, expected: Any) -> None:
    result = extract(template, "42.5" if "value |" in template else PAYLOAD)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "template",
    [
        "{{ value_json }}",
        "{{ value_json.x[-1] }}",
        "{{ value_json.state if value_json.state else 'OFF' }}",
        "{{ value_json.brightness * 100 / 255 }}",
        "{{ value_json.brightness | round(1) }}",
        "{{ value_json.state | default('OFF') }}",
        "{{ value_json.state | lower('x') }}",
        "{{ value_json.state | float('n/a') }}",
        "{{ value_json.state | int(0, 16) }}",
        "{{ value | round }}",
        "{% if value_json.state == 'ON' %}ON{% endif %}",
        "{{ states('light.kitchen') }}",
        "state: {{ value_json.state }}",
        "{{ value_json.state }} {{ value_json.brightness }}",
        "value_json.state",
        "",
    ],
)
def test_extract_rejects_unsupported_templates(template: str) -> None:
    with pytest.raises(UnsupportedTemplateError) as info:
        extract(template, PAYLOAD)
    assert repr(template) in str(info.value)


def test_extract_float_filter_refuses_non_finite_results() -> None:
    assert extract("{{ value_json.t | float }}", {"t": "inf"}) is None
    assert extract("{{ value_json.t | float(0) }}", {"t": "nan"}) == 0
    assert extract("{{ value_json.t | int(7) }}", {"t": "1e400"}) == 7


def test_unsupported_template_error_is_in_the_error_tree() -> None:
    assert issubclass(UnsupportedTemplateError, ContractError)
    assert issubclass(UnsupportedTemplateError, ValueError)  # callers that catch ValueError keep working
