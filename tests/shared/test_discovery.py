"""Tests for shared/discovery.py: real-world discovery configs parse the way Home Assistant reads them."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from shared.codec import decode, encode
from shared.discovery import (
    COMPONENTS,
    AvailabilityItem,
    DiscoveryConfig,
    expand,
    parse_discovery,
)
from shared.errors import PayloadError

# Tasmota (SetOption19 1) relay: abbreviated keys, "~" base topic at the start of topics.
TASMOTA_RELAY: dict[str, Any] = {
    "name": "Kitchen Plug",
    "~": "tasmota_A0B1C2/",
    "cmd_t": "~cmnd/POWER",
    "stat_t": "~tele/STATE",
    "val_tpl": "{{value_json.POWER}}",
    "pl_off": "OFF",
    "pl_on": "ON",
    "avty_t": "~tele/LWT",
    "pl_avail": "Online",
    "pl_not_avail": "Offline",
    "uniq_id": "A0B1C2_RL_1",
    "dev": {
        "ids": ["A0B1C2"],
        "name": "Tasmota Plug",
        "mdl": "Sonoff S26",
        "sw": "13.2.0",
        "mf": "Tasmota",
        "sa": "Kitchen",
        "cns": [["mac", "A0:B1:C2:D3:E4:F5"]],
    },
}

# zigbee2mqtt 1.x light: full key names, JSON schema, availability list, entity name null.
Z2M_LIGHT: dict[str, Any] = {
    "availability": [
        {"topic": "zigbee2mqtt/bridge/state", "value_template": "{{ value_json.state }}"},
        {"topic": "zigbee2mqtt/Living room lamp/availability", "value_template": "{{ value_json.state }}"},
    ],
    "availability_mode": "all",
    "brightness": True,
    "brightness_scale": 254,
    "command_topic": "zigbee2mqtt/Living room lamp/set",
    "device": {
        "identifiers": ["zigbee2mqtt_0x0017880104e45517"],
        "manufacturer": "Signify Netherlands B.V.",
        "model": "Hue White and color ambiance E26/E27/E14 (9290012573A)",
        "name": "Living room lamp",
        "sw_version": "1.50.2_r30933",
        "via_device": "zigbee2mqtt_bridge_0x00124b0022813501",
    },
    "effect": True,
    "effect_list": ["blink", "breathe", "okay", "channel_change", "finish_effect", "stop_effect"],
    "max_mireds": 500,
    "min_mireds": 153,
    "name": None,
    "object_id": "living_room_lamp",
    "origin": {"name": "Zigbee2MQTT", "sw": "1.40.2", "url": "https://www.zigbee2mqtt.io"},
    "schema": "json",
    "state_topic": "zigbee2mqtt/Living room lamp",
    "supported_color_modes": ["xy", "color_temp"],
    "unique_id": "0x0017880104e45517_light_zigbee2mqtt",
}


def _raw(config: dict[str, Any]) -> bytes:
    return json.dumps(config).encode()


# --- Tasmota-style abbreviated config --------------------------------------------------------


def test_tasmota_abbreviations_and_base_topic_expand() -> None:
    cfg = parse_discovery("switch", _raw(TASMOTA_RELAY))
    assert cfg is not None
    assert cfg.component == "switch"
    assert cfg.unique_id == "A0B1C2_RL_1"
    assert cfg.name == "Kitchen Plug"
    assert cfg.command_topic == "tasmota_A0B1C2/cmnd/POWER"
    assert cfg.state_topic == "tasmota_A0B1C2/tele/STATE"
    assert cfg.availability_topic == "tasmota_A0B1C2/tele/LWT"
    assert cfg.value_template == "{{value_json.POWER}}"
    assert (cfg.payload_on, cfg.payload_off) == ("ON", "OFF")
    assert (cfg.payload_available, cfg.payload_not_available) == ("Online", "Offline")


def test_tasmota_device_block_expands() -> None:
    cfg = parse_discovery("switch", _raw(TASMOTA_RELAY))
    assert cfg is not None and cfg.device is not None
    assert cfg.device.identifiers == ["A0B1C2"]
    assert cfg.device.manufacturer == "Tasmota"
    assert cfg.device.model == "Sonoff S26"
    assert cfg.device.suggested_area == "Kitchen"
    assert cfg.device.sw_version == "13.2.0"
    assert cfg.device.model_extra == {"connections": [["mac", "A0:B1:C2:D3:E4:F5"]]}


def test_single_availability_topic_becomes_one_item() -> None:
    cfg = parse_discovery("switch", _raw(TASMOTA_RELAY))
    assert cfg is not None
    assert cfg.availability_topics() == [
        AvailabilityItem(topic="tasmota_A0B1C2/tele/LWT", payload_available="Online", payload_not_available="Offline")
    ]


def test_base_topic_at_the_end_and_base_key_removed() -> None:
    out = expand({"~": "esphome/desk", "stat_t": "state/~", "cmd_t": "~/set", "name": "~ stays in names"})
    assert out == {"state_topic": "state/esphome/desk", "command_topic": "esphome/desk/set", "name": "~ stays in names"}


def test_base_topic_only_replaces_topic_keys() -> None:
    out = expand({"~": "base", "val_tpl": "~x", "json_attr_t": "~/attrs", "pl_on": "~"})
    assert out == {"value_template": "~x", "json_attributes_topic": "base/attrs", "payload_on": "~"}


def test_abbreviated_availability_list_items_expand() -> None:
    raw = {
        "~": "esphome/desk",
        "uniq_id": "desk_lamp",
        "avty": [{"t": "~/status", "pl_avail": "up", "pl_not_avail": "down"}, {"topic": "bridge/state"}],
        "avty_mode": "any",
    }
    cfg = parse_discovery("light", _raw(raw))
    assert cfg is not None
    assert cfg.availability_mode == "any"
    assert cfg.availability_topics() == [
        AvailabilityItem(topic="esphome/desk/status", payload_available="up", payload_not_available="down"),
        AvailabilityItem(topic="bridge/state"),
    ]


def test_expand_does_not_mutate_its_input() -> None:
    raw = copy.deepcopy(TASMOTA_RELAY) | {"avty": [{"t": "~/x"}]}
    before = copy.deepcopy(raw)
    expand(raw)
    assert raw == before


# --- zigbee2mqtt light -----------------------------------------------------------------------


def test_zigbee2mqtt_json_light() -> None:
    cfg = parse_discovery("light", _raw(Z2M_LIGHT))
    assert cfg is not None
    assert cfg.schema_ == "json"
    assert cfg.brightness is True
    assert cfg.brightness_scale == 254
    assert cfg.supported_color_modes == ["xy", "color_temp"]
    assert cfg.state_topic == "zigbee2mqtt/Living room lamp"
    assert cfg.command_topic == "zigbee2mqtt/Living room lamp/set"
    assert cfg.object_id == "living_room_lamp"
    assert cfg.availability_mode == "all"
    assert [a.topic for a in cfg.availability_topics()] == [
        "zigbee2mqtt/bridge/state",
        "zigbee2mqtt/Living room lamp/availability",
    ]
    assert all(a.value_template == "{{ value_json.state }}" for a in cfg.availability_topics())
    # Unknown keys are kept, as Home Assistant keeps them.
    assert cfg.model_extra is not None
    assert cfg.model_extra["max_mireds"] == 500
    assert cfg.model_extra["effect_list"][0] == "blink"


def test_zigbee2mqtt_entity_without_name_uses_device_name() -> None:
    cfg = parse_discovery("light", _raw(Z2M_LIGHT))
    assert cfg is not None
    assert cfg.name is None
    assert cfg.device is not None and cfg.device.name == "Living room lamp"
    assert cfg.display_name == "Living room lamp"


def test_display_name_falls_back_to_unique_id() -> None:
    cfg = parse_discovery("sensor", b'{"unique_id": "temp_1", "state_topic": "t/1"}')
    assert cfg is not None
    assert cfg.display_name == "temp_1"
    assert cfg.availability_topics() == []


def test_config_survives_encode_and_decode() -> None:
    cfg = parse_discovery("light", _raw(Z2M_LIGHT))
    assert cfg is not None
    again = decode(DiscoveryConfig, encode(cfg))
    assert again.schema_ == "json"
    assert again == cfg


# --- removal and malformed configs -----------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", ""])
def test_empty_payload_means_removed(raw: bytes | str) -> None:
    assert parse_discovery("light", raw) is None


@pytest.mark.parametrize("raw", [b"[]", b'"light"', b"null", b"1"])
def test_config_must_be_an_object(raw: bytes) -> None:
    with pytest.raises(PayloadError, match="must be a JSON object") as info:
        parse_discovery("light", raw)
    assert info.value.model == "DiscoveryConfig"


def test_config_that_is_not_json() -> None:
    with pytest.raises(PayloadError, match="not JSON"):
        parse_discovery("light", b"{uniq_id: x}")


@pytest.mark.parametrize(
    ("component", "config", "field"),
    [
        ("doorbell", {"uniq_id": "x"}, "component"),
        ("light", {"name": "no id"}, "unique_id"),
        ("light", {"uniq_id": ""}, "unique_id"),
        ("light", {"uniq_id": "a/b"}, "unique_id"),
        ("light", {"uniq_id": "a+"}, "unique_id"),
        ("light", {"uniq_id": 12}, "unique_id"),
        ("light", {"uniq_id": "x", "cmd_t": "zigbee2mqtt/+/set"}, "command_topic"),
        ("light", {"uniq_id": "x", "stat_t": "zigbee2mqtt/#"}, "state_topic"),
        ("light", {"uniq_id": "x", "avty_t": ""}, "availability_topic"),
        ("cover", {"uniq_id": "x", "set_pos_t": "c/+"}, "set_position_topic"),
        ("light", {"uniq_id": "x", "bri_scl": 0}, "brightness_scale"),
        ("light", {"uniq_id": "x", "avty_mode": "most"}, "availability_mode"),
        ("light", {"uniq_id": "x", "avty": [{"pl_avail": "on"}]}, "availability.0.topic"),
        ("light", {"uniq_id": "x", "dev": {"ids": 5}}, "device.identifiers"),
        ("climate", {"uniq_id": "x", "max_temp": "hot"}, "max_temp"),
    ],
)
def test_bad_config_names_the_field(component: str, config: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_discovery(component, _raw(config))
    assert info.value.field == field
    assert info.value.model == "DiscoveryConfig"


def test_wildcard_topic_error_names_the_key_and_value() -> None:
    with pytest.raises(PayloadError, match=r"command_topic: .*'zigbee2mqtt/\+/set'"):
        parse_discovery("light", _raw({"uniq_id": "x", "cmd_t": "zigbee2mqtt/+/set"}))


def test_overflowing_number_in_config_is_rejected() -> None:
    with pytest.raises(PayloadError, match="out of range"):
        parse_discovery("climate", b'{"uniq_id": "x", "max_temp": 1e999}')


def test_every_component_parses() -> None:
    assert {"light", "switch", "climate", "cover", "lock", "vacuum", "media_player", "sensor"} <= COMPONENTS
    for component in sorted(COMPONENTS):
        cfg = parse_discovery(component, b'{"uniq_id": "x"}')
        assert cfg is not None and cfg.component == component
