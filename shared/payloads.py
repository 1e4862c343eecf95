"""Device state and command payloads, in the JSON shapes zigbee2mqtt and Tasmota use."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.codec import finite
from shared.errors import ContractError

Finite = Annotated[float, AfterValidator(finite)]
OnOff = Literal["ON", "OFF"]


class Color(BaseModel):
    """A colour in any of the forms HA's JSON light schema allows."""

    model_config = ConfigDict(extra="allow")

    r: int | None = Field(default=None, ge=0, le=255)
    g: int | None = Field(default=None, ge=0, le=255)
    b: int | None = Field(default=None, ge=0, le=255)
    x: Finite | None = Field(default=None, ge=0, le=1)
    y: Finite | None = Field(default=None, ge=0, le=1)
    h: Finite | None = Field(default=None, ge=0, le=360)
    s: Finite | None = Field(default=None, ge=0, le=100)


class LightState(BaseModel):
    """State of a JSON-schema light; brightness uses the device's `brightness_scale` (default 255)."""

    model_config = ConfigDict(extra="allow")

    state: OnOff
    brightness: int | None = Field(default=None, ge=0, le=65535)
    color_mode: str | None = None
    color: Color | None = None
    color_temp: int | None = Field(default=None, ge=0, le=1000)


class LightCommand(BaseModel):
    """A `/set` command to a JSON-schema light."""

    model_config = ConfigDict(extra="forbid")

    state: OnOff | None = None
    brightness: int | None = Field(default=None, ge=0, le=65535)
    color: Color | None = None
    color_temp: int | None = Field(default=None, ge=0, le=1000)
    transition: Finite | None = Field(default=None, ge=0, le=3600)


class ClimateState(BaseModel):
    """Thermostat state as zigbee2mqtt publishes it on one JSON state topic."""

    model_config = ConfigDict(extra="allow")

    system_mode: Literal["off", "heat", "cool", "auto", "dry", "fan_only"]
    current_temperature: Finite | None = None
    occupied_heating_setpoint: Finite | None = None


class CoverState(BaseModel):
    """Cover state: position 0 (closed) to 100 (open)."""

    model_config = ConfigDict(extra="allow")

    state: Literal["open", "closed", "opening", "closing", "stopped", "OPEN", "CLOSE", "STOP"] | None = None
    position: int | None = Field(default=None, ge=0, le=100)


class LockState(BaseModel):
    """Lock state."""

    model_config = ConfigDict(extra="allow")

    state: Literal["LOCKED", "UNLOCKED", "LOCKING", "UNLOCKING", "JAMMED"]


class VacuumState(BaseModel):
    """Vacuum state in HA's MQTT vacuum state schema."""

    model_config = ConfigDict(extra="allow")

    state: Literal["cleaning", "docked", "paused", "idle", "returning", "error"]
    battery_level: int | None = Field(default=None, ge=0, le=100)
    fan_speed: str | None = None


class MediaPlayerState(BaseModel):
    """Media player state; volume is 0..1."""

    model_config = ConfigDict(extra="allow")

    state: Literal["off", "on", "idle", "playing", "paused"]
    volume: Finite | None = Field(default=None, ge=0, le=1)
    media_title: str | None = None
    source: str | None = None


class DeviceErrorEvent(BaseModel):
    """What a device publishes when it rejects a command."""

    error: str
    field: str | None = None
    command: dict[str, Any] | None = None


STATE_MODELS: dict[str, type[BaseModel]] = {
    "light": LightState,
    "climate": ClimateState,
    "cover": CoverState,
    "lock": LockState,
    "vacuum": VacuumState,
    "media_player": MediaPlayerState,
}

_TEMPLATE = re.compile(
    r"^\{\{\s*(?:value_json((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\s*['\"][^'\"]+['\"]\s*\]|\[\d+\])+)|value)\s*"
    r"((?:\|\s*(?:float|int|string|lower|upper)(?:\([^)]*\))?\s*)*)\}\}$"
)
_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\]|\[(\d+)\]")
_FILTER = re.compile(r"\|\s*(float|int|string|lower|upper)(?:\(([^)]*)\))?")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


class UnsupportedTemplateError(ContractError, ValueError):
    """A Jinja template beyond the `{{ value_json.path }}` form the edge evaluates."""

    code = "unsupported_template"


def _walk(path: str, payload: Any) -> Any:
    value = payload
    for key, quoted, index in _PATH_PART.findall(path):
        if index:
            if not isinstance(value, list) or int(index) >= len(value):
                return None
            value = value[int(index)]
            continue
        name = key or quoted
        if not isinstance(value, dict) or name not in value:
            return None
        value = value[name]
    return value


def _filter_default(name: str, arg: str | None, template: str) -> Any:
    # Only `float(0)` / `int(default=-1)`: a numeric default, returned as written when conversion fails.
    text = re.sub(r"^default\s*=\s*", "", (arg or "").strip())
    if not text:
        return None
    if name in ("float", "int") and _NUMBER.fullmatch(text):
        return float(text) if any(ch in text for ch in ".eE") else int(text)
    raise UnsupportedTemplateError(f"template {template!r}: filter {name}({arg}) is not supported")


def _apply_filter(name: str, default: Any, value: Any) -> Any:
    # Jinja's semantics, except that a missing value stays None and non-finite floats fall back to default.
    if name in ("string", "lower", "upper"):
        if value is None:
            return None
        text = str(value)
        return text.lower() if name == "lower" else text.upper() if name == "upper" else text
    try:
        if name == "float":
            number = float(value)
            return number if math.isfinite(number) else default
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                return int(float(value))
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def extract(template: str | None, payload: Any) -> Any:
    """Evaluate the `{{ value_json.a.b | float }}` / `{{ value }}` templates that device firmwares use.

    Full Jinja is not evaluated on the edge; other templates raise UnsupportedTemplateError. A missing
    path gives None; filters `float`, `int` (with an optional numeric default), `string`, `lower`, `upper`.
    """
    if template is None:
        return payload
    match = _TEMPLATE.match(template.strip())
    if not match:
        raise UnsupportedTemplateError(f"template {template!r} is not of the form {{{{ value_json.path }}}}")
    path, filters = match.group(1), match.group(2)
    value = payload if path is None else _walk(path, payload)
    steps = [(name, _filter_default(name, arg or None, template)) for name, arg in _FILTER.findall(filters)]
    for name, default in steps:
        value = _apply_filter(name, default, value)
    return value
