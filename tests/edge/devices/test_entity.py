"""Entity: reading state through HA templates and rendering commands for each domain."""

from __future__ import annotations

import json

import pytest

from edge.devices.entity import Command, Entity, satisfied
from shared.discovery import parse_discovery
from shared.errors import PayloadError, UnsupportedActionError


def entity(component: str, config: dict[str, object]) -> Entity:
    parsed = parse_discovery(component, json.dumps(config))
    assert parsed is not None
    return Entity.from_config(parsed, f"homeassistant/{component}/x/config")


LIGHT = {"unique_id": "l1", "name": "Kitchen Light", "schema": "json", "brightness": True,
         "state_topic": "z2m/kitchen", "command_topic": "z2m/kitchen/set",
         "device": {"identifiers": ["0x1"], "name": "Kitchen Light", "suggested_area": "Kitchen"},
         "aliases": {"zh-cn": ["厨房灯"]}, "suggested_area_aliases": {"zh-cn": "厨房"}}


def test_json_light_state_and_commands() -> None:
    light = entity("light", LIGHT)
    (binding,) = light.bindings()
    assert light.parse(binding, b'{"state":"ON","brightness":128,"linkquality":90}') == {
        "state": "ON", "brightness": 128}
    rendered = light.render(Command("set_brightness", 50))
    assert json.loads(rendered.publishes[0].payload) == {"state": "ON", "brightness": 128}
    assert rendered.publishes[0].topic == "z2m/kitchen/set"
    assert rendered.expect == {"brightness": [128], "state": ["ON"]}
    assert light.aliases == {"zh-cn": ["厨房灯"]} and light.area_aliases == {"zh-cn": "厨房"}


def test_json_light_rejects_non_json_state() -> None:
    light = entity("light", LIGHT)
    with pytest.raises(PayloadError, match="not JSON"):
        light.parse(light.bindings()[0], b"ON")


@pytest.mark.parametrize(("payload", "field"), [
    (b'{"state": {}}', "state"),
    (b'{"state": "ON", "brightness": "bright"}', "brightness"),
    (b'{"state": "ON", "brightness": -5}', "brightness"),
    (b'{"state": "ON", "color": {"r": 300, "g": 0, "b": 0}}', "color.r"),
])
def test_json_light_rejects_wrongly_typed_known_fields(payload: bytes, field: str) -> None:
    light = entity("light", LIGHT)
    with pytest.raises(PayloadError) as info:
        light.parse(light.bindings()[0], payload)
    assert info.value.field == field


def test_json_light_takes_a_partial_update_and_ignores_unknown_fields() -> None:
    light = entity("light", LIGHT)
    assert light.parse(light.bindings()[0], b'{"brightness": 12, "update": {"state": "idle"}}') == {"brightness": 12}


def test_tasmota_style_default_schema_light_with_abbreviations() -> None:
    config = {"~": "tasmota/desk/", "uniq_id": "t1", "name": "Desk", "cmd_t": "~cmnd/POWER",
              "stat_t": "~tele/STATE", "val_tpl": "{{ value_json.POWER }}", "pl_on": "ON", "pl_off": "OFF",
              "bri_cmd_t": "~cmnd/Dimmer", "bri_stat_t": "~tele/STATE", "bri_scl": 100,
              "bri_val_tpl": "{{ value_json.Dimmer }}"}
    light = entity("light", config)
    values: dict[str, object] = {}
    for binding in light.bindings():
        values.update(light.parse(binding, b'{"POWER":"ON","Dimmer":40}'))
    assert values == {"state": "ON", "brightness": 40.0}
    rendered = light.render(Command("set_brightness", 25))
    assert [(p.topic, p.payload) for p in rendered.publishes] == [("tasmota/desk/cmnd/Dimmer", b"25")]
    assert light.render(Command("turn_off")).publishes[0].payload == b"OFF"


def test_switch_maps_state_values_and_plain_payloads() -> None:
    plug = entity("switch", {"unique_id": "p", "name": "Plug", "state_topic": "p/state", "command_topic": "p/set",
                             "value_template": "{{ value_json.state }}", "state_on": "on", "state_off": "off",
                             "payload_on": "1", "payload_off": "0"})
    assert plug.parse(plug.bindings()[0], b'{"state": "on"}') == {"state": "ON"}
    assert plug.render(Command("turn_on")).publishes[0].payload == b"1"
    with pytest.raises(UnsupportedActionError):
        plug.render(Command("set_brightness", 10))


def test_climate_range_is_enforced_before_sending() -> None:
    climate = entity("climate", {"unique_id": "c", "name": "Thermostat", "temperature_command_topic": "c/t",
                                 "temperature_state_topic": "c", "temperature_state_template":
                                 "{{ value_json.sp }}", "min_temp": 5, "max_temp": 30, "mode_command_topic": "c/m",
                                 "modes": ["off", "heat"]})
    assert climate.render(Command("set_temperature", 21.5)).publishes[0].payload == b"21.5"
    with pytest.raises(UnsupportedActionError, match="5 to 30"):
        climate.render(Command("set_temperature", 45))
    assert climate.render(Command("turn_on")).publishes[0].payload == b"heat"


def test_cover_lock_vacuum_and_media() -> None:
    cover = entity("cover", {"unique_id": "cv", "command_topic": "cv/set", "set_position_topic": "cv/pos",
                             "position_topic": "cv", "position_template": "{{ value_json.position }}"})
    rendered = cover.render(Command("set_position", 40))
    assert rendered.publishes[0].payload == b"40" and rendered.expect == {"position": [40]} and rendered.slow
    lock = entity("lock", {"unique_id": "lk", "command_topic": "lk/set", "state_topic": "lk",
                           "value_template": "{{ value_json.state }}"})
    assert lock.render(Command("unlock")).publishes[0].payload == b"UNLOCK"
    assert lock.parse(lock.bindings()[0], b'{"state": "LOCKED"}') == {"state": "LOCKED"}
    vacuum = entity("vacuum", {"unique_id": "v", "command_topic": "v/set", "state_topic": "v"})
    assert vacuum.render(Command("return_to_base")).expect == {"state": ["returning", "docked"]}
    media = entity("media_player", {"unique_id": "m", "command_topic": "m/set", "state_topic": "m"})
    assert json.loads(media.render(Command("set_volume", 30)).publishes[0].payload) == {"volume": 0.3}


def test_sensor_value_template() -> None:
    sensor = entity("sensor", {"unique_id": "s", "state_topic": "s", "value_template": "{{ value_json.temperature }}",
                               "device_class": "temperature", "unit_of_measurement": "°C"})
    assert sensor.parse(sensor.bindings()[0], b'{"temperature": 21.4, "humidity": 40}') == {"value": 21.4}
    assert sensor.parse(sensor.bindings()[0], b'{"humidity": 40}') == {}


def test_satisfied_compares_numbers_and_case() -> None:
    assert satisfied({"state": ["ON"], "brightness": [128]}, {"state": "on", "brightness": 128.0})
    assert not satisfied({"state": ["ON"]}, {"state": "OFF"})
    assert not satisfied({"position": [40]}, {})
