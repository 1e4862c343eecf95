"""Home Assistant MQTT discovery configs, as zigbee2mqtt, Tasmota and ESPHome publish them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.codec import parse_json, validate
from shared.errors import PayloadError

#: Components the edge understands. `media_player` is not in HA's MQTT integration; we use the
#: JSON-state convention of the common custom integrations for it (see docs/devices.md).
Component = Literal[
    "light", "switch", "climate", "cover", "lock", "vacuum", "media_player", "sensor", "binary_sensor", "fan"
]
COMPONENTS: frozenset[str] = frozenset(Component.__args__)  # type: ignore[attr-defined]

# Home Assistant's documented abbreviations (subset that matters for control and state).
ABBREVIATIONS: dict[str, str] = {
    "avty": "availability", "avty_mode": "availability_mode", "avty_t": "availability_topic",
    "avty_tpl": "availability_template", "bri": "brightness", "bri_cmd_t": "brightness_command_topic",
    "bri_scl": "brightness_scale", "bri_stat_t": "brightness_state_topic", "bri_val_tpl": "brightness_value_template",
    "clr_mode": "color_mode", "cmd_t": "command_topic", "cmd_tpl": "command_template", "dev": "device",
    "dev_cla": "device_class", "fx_list": "effect_list", "json_attr_t": "json_attributes_topic",
    "max_temp": "max_temp", "min_temp": "min_temp", "mode_cmd_t": "mode_command_topic",
    "mode_stat_t": "mode_state_topic", "mode_stat_tpl": "mode_state_template", "modes": "modes",
    "name": "name", "obj_id": "object_id", "opt": "optimistic", "pl_avail": "payload_available",
    "pl_cls": "payload_close", "pl_lock": "payload_lock", "pl_not_avail": "payload_not_available",
    "pl_off": "payload_off", "pl_on": "payload_on", "pl_open": "payload_open", "pl_stop": "payload_stop",
    "pl_unlk": "payload_unlock", "pos_t": "position_topic", "pos_tpl": "position_template",
    "pos_clsd": "position_closed", "pos_open": "position_open", "qos": "qos", "ret": "retain",
    "schema": "schema", "set_pos_t": "set_position_topic", "stat_cla": "state_class",
    "stat_clsd": "state_closed", "stat_locked": "state_locked", "stat_off": "state_off", "stat_on": "state_on",
    "stat_open": "state_open", "stat_t": "state_topic", "stat_tpl": "state_template",
    "stat_unlocked": "state_unlocked", "stat_val_tpl": "state_value_template", "sup_clrm": "supported_color_modes",
    "sup_feat": "supported_features", "temp_cmd_t": "temperature_command_topic",
    "temp_stat_t": "temperature_state_topic", "temp_stat_tpl": "temperature_state_template",
    "curr_temp_t": "current_temperature_topic", "curr_temp_tpl": "current_temperature_template",
    "temp_step": "temp_step", "uniq_id": "unique_id", "unit_of_meas": "unit_of_measurement",
    "val_tpl": "value_template", "fanspd_lst": "fan_speed_list", "send_cmd_t": "send_command_topic",
    "pct_cmd_t": "percentage_command_topic", "pct_stat_t": "percentage_state_topic",
    "t": "topic",  # used inside `availability` list items
}
DEVICE_ABBREVIATIONS: dict[str, str] = {
    "cns": "connections", "ids": "identifiers", "name": "name", "mf": "manufacturer", "mdl": "model",
    "mdl_id": "model_id", "hw": "hw_version", "sw": "sw_version", "sa": "suggested_area", "sn": "serial_number",
    "via_device": "via_device",
}


def expand(raw: dict[str, Any]) -> dict[str, Any]:
    """Expand abbreviations and the `~` base topic, as Home Assistant does before validating."""
    out = {ABBREVIATIONS.get(k, k): v for k, v in raw.items()}
    if isinstance(out.get("device"), dict):
        out["device"] = {DEVICE_ABBREVIATIONS.get(k, k): v for k, v in out["device"].items()}
    if isinstance(out.get("availability"), list):
        out["availability"] = [
            {ABBREVIATIONS.get(k, k): v for k, v in item.items()} if isinstance(item, dict) else item
            for item in out["availability"]
        ]
        for item in out["availability"]:
            if isinstance(item, dict) and isinstance(item.get("topic"), str):
                item["topic"] = _base(item["topic"], out.get("~"))
    base = out.pop("~", None)
    if isinstance(base, str):
        for key, value in list(out.items()):
            if key.endswith("_topic") or key == "topic":
                out[key] = _base(value, base)
    return out


def _base(value: Any, base: Any) -> Any:
    if not isinstance(value, str) or not isinstance(base, str):
        return value
    if value.startswith("~"):
        return base + value[1:]
    if value.endswith("~"):
        return value[:-1] + base
    return value


class DeviceInfo(BaseModel):
    """The `device` block: groups entities of one physical device."""

    model_config = ConfigDict(extra="allow")

    identifiers: list[str] | str | None = None
    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    suggested_area: str | None = None
    sw_version: str | None = None


class AvailabilityItem(BaseModel):
    """One entry of the `availability` list."""

    model_config = ConfigDict(extra="allow")

    topic: str
    payload_available: str = "online"
    payload_not_available: str = "offline"
    value_template: str | None = None


class DiscoveryConfig(BaseModel):
    """A discovery config for one entity; unknown keys are kept, not rejected, as HA does."""

    model_config = ConfigDict(extra="allow")

    component: Component
    unique_id: str = Field(min_length=1, max_length=256)
    name: str | None = None
    object_id: str | None = None
    device: DeviceInfo | None = None
    # Every topic key the edge subscribes to or publishes on.
    state_topic: str | None = None
    command_topic: str | None = None
    availability_topic: str | None = None
    availability: list[AvailabilityItem] | None = None
    availability_mode: Literal["all", "any", "latest"] = "latest"
    payload_available: str = "online"
    payload_not_available: str = "offline"
    value_template: str | None = None
    json_attributes_topic: str | None = None
    # light (json schema)
    schema_: str | None = Field(default=None, alias="schema")
    brightness: bool | None = None
    brightness_scale: int = Field(default=255, ge=1, le=65535)
    supported_color_modes: list[str] | None = None
    # switch, lock, cover
    payload_on: str = "ON"
    payload_off: str = "OFF"
    state_on: str | None = None
    state_off: str | None = None
    payload_lock: str = "LOCK"
    payload_unlock: str = "UNLOCK"
    state_locked: str = "LOCKED"
    state_unlocked: str = "UNLOCKED"
    payload_open: str | None = "OPEN"
    payload_close: str | None = "CLOSE"
    payload_stop: str | None = "STOP"
    position_topic: str | None = None
    position_template: str | None = None
    set_position_topic: str | None = None
    position_open: int = 100
    position_closed: int = 0
    # climate
    mode_command_topic: str | None = None
    mode_state_topic: str | None = None
    mode_state_template: str | None = None
    temperature_command_topic: str | None = None
    temperature_state_topic: str | None = None
    temperature_state_template: str | None = None
    current_temperature_topic: str | None = None
    current_temperature_template: str | None = None
    modes: list[str] | None = None
    min_temp: float | None = None
    max_temp: float | None = None
    # vacuum
    send_command_topic: str | None = None
    fan_speed_list: list[str] | None = None
    supported_features: list[str] | None = None
    # sensor
    device_class: str | None = None
    unit_of_measurement: str | None = None

    @field_validator("unique_id")
    @classmethod
    def _no_wildcards(cls, value: str) -> str:
        if any(ch in value for ch in "+#/\x00"):
            raise ValueError("must not contain + # / or NUL")
        return value

    # A field validator (not a model validator) so the PayloadError names the offending key.
    @field_validator("state_topic", "command_topic", "availability_topic", "set_position_topic",
                     "mode_command_topic", "temperature_command_topic")
    @classmethod
    def _topics_are_concrete(cls, value: str | None) -> str | None:
        if value is not None and (not value or "+" in value or "#" in value):
            raise ValueError(f"{value!r} must be a concrete topic without wildcards")
        return value

    @property
    def display_name(self) -> str:
        """The entity name users say: its own name, else the device name, else the unique id."""
        if self.name:
            return self.name
        if self.device and self.device.name:
            return self.device.name
        return self.unique_id

    def availability_topics(self) -> list[AvailabilityItem]:
        """All availability topics, from either the single-topic or the list form."""
        items = list(self.availability or [])
        if self.availability_topic:
            items.append(AvailabilityItem(topic=self.availability_topic,
                                          payload_available=self.payload_available,
                                          payload_not_available=self.payload_not_available))
        return items


def parse_discovery(component: str, raw: bytes | str) -> DiscoveryConfig | None:
    """Parse a retained discovery payload; an empty payload means the entity was removed (None)."""
    if raw in (b"", ""):
        return None
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise PayloadError("discovery config must be a JSON object", model="DiscoveryConfig")
    data = expand(data)
    data["component"] = component
    return validate(DiscoveryConfig, data)
