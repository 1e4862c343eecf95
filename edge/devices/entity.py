"""A discovered entity: how to read its state and how to command it, from its HA discovery config.

Over 300 lines: every domain's state bindings and command rendering sit together, as one table of what an entity can do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from shared.codec import parse_json, validate_fields
from shared.discovery import DiscoveryConfig
from shared.errors import PayloadError, UnsupportedActionError
from shared.payloads import LightState, MediaPlayerState, UnsupportedTemplateError, VacuumState, extract

Convert = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Binding:
    """Where one property's value arrives: topic, HA value template, and normalisation."""

    topic: str
    prop: str  # "*" merges every key of a JSON object
    template: str | None = None
    convert: Convert = lambda v: v


@dataclass(frozen=True, slots=True)
class Publish:
    """One MQTT publish a command turns into."""

    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Command:
    """A device-level action, independent of the device's protocol."""

    name: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Rendered:
    """A command in protocol form: what to publish and which reported values confirm it."""

    publishes: tuple[Publish, ...]
    expect: dict[str, list[Any]] = field(default_factory=dict)
    slow: bool = False  # covers and vacuums take seconds to get there


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _mapper(mapping: dict[str | None, str]) -> Convert:
    return lambda v: mapping.get(str(v) if v is not None else None, v)


def _str(value: Any) -> bytes:
    return str(value).encode()


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


LIGHT_KEYS = ("state", "brightness", "color", "color_temp", "color_mode")
JSON_STATE_KEYS = {
    "vacuum": ("state", "battery_level", "fan_speed"),
    "media_player": ("state", "volume", "media_title", "source"),
    "light": LIGHT_KEYS,
}
#: The types and bounds each JSON-state key must meet (any subset of keys may come in one message).
JSON_STATE_MODELS: dict[str, type[BaseModel]] = {"vacuum": VacuumState, "media_player": MediaPlayerState,
                                                  "light": LightState}


@dataclass(slots=True)
class Entity:
    """One controllable or readable thing (a light, a plug, a sensor value ...)."""

    config: DiscoveryConfig
    discovery_topic: str
    aliases: dict[str, list[str]] = field(default_factory=dict)  # language -> extra spoken names
    area_aliases: dict[str, str] = field(default_factory=dict)  # language -> area name
    available: bool | None = None

    @property
    def device_id(self) -> str:
        """The entity's unique id."""
        return self.config.unique_id

    @property
    def domain(self) -> str:
        """Home Assistant domain (light, switch, ...)."""
        return self.config.component

    @property
    def name(self) -> str:
        """The name users say."""
        return self.config.display_name

    @property
    def area(self) -> str | None:
        """Suggested area from the device block."""
        return self.config.device.suggested_area if self.config.device else None

    @classmethod
    def from_config(cls, config: DiscoveryConfig, discovery_topic: str) -> Entity:
        """Build an entity, reading the project's optional alias extensions from the config."""
        extra = config.model_extra or {}
        raw_aliases = extra.get("aliases")
        aliases: dict[str, Any] = raw_aliases if isinstance(raw_aliases, dict) else {}
        area_aliases = extra.get("suggested_area_aliases")
        return cls(
            config, discovery_topic,
            aliases={str(k): [str(v) for v in vs] for k, vs in aliases.items() if isinstance(vs, list)},
            area_aliases={str(k): str(v) for k, v in area_aliases.items()} if isinstance(area_aliases, dict) else {},
        )

    @property
    def error_topic(self) -> str | None:
        """Where the device reports rejected commands (project extension, optional)."""
        topic = (self.config.model_extra or {}).get("error_topic")
        return topic if isinstance(topic, str) and topic else None

    # reading state
    def bindings(self) -> list[Binding]:
        """Every topic/template pair this entity reports on."""
        c = self.config
        out: list[Binding] = []
        if c.component == "light" and c.schema_ == "json" and c.state_topic:
            out.append(Binding(c.state_topic, "*"))
        elif c.component in ("vacuum", "media_player") and c.state_topic:
            out.append(Binding(c.state_topic, "*"))
        elif c.component in ("light", "switch", "fan") and c.state_topic:
            on, off = c.state_on or c.payload_on, c.state_off or c.payload_off
            out.append(Binding(c.state_topic, "state", c.value_template or _extra(c, "state_value_template"),
                               _mapper({on: "ON", off: "OFF"})))
            if c.component == "light" and _extra(c, "brightness_state_topic"):
                out.append(Binding(_extra(c, "brightness_state_topic") or "", "brightness",
                                   _extra(c, "brightness_value_template"), _num))
        elif c.component == "lock" and c.state_topic:
            out.append(Binding(c.state_topic, "state", c.value_template,
                               _mapper({c.state_locked: "LOCKED", c.state_unlocked: "UNLOCKED"})))
        elif c.component == "cover":
            if c.state_topic:
                out.append(Binding(c.state_topic, "state", c.value_template, lambda v: str(v).lower()))
            if c.position_topic:
                out.append(Binding(c.position_topic, "position", c.position_template, _num))
        elif c.component == "climate":
            for topic, prop, template in (
                (c.mode_state_topic, "hvac_mode", c.mode_state_template),
                (c.temperature_state_topic, "target_temperature", c.temperature_state_template),
                (c.current_temperature_topic, "current_temperature", c.current_temperature_template),
            ):
                if topic:
                    out.append(Binding(topic, prop, template, _num if "temperature" in prop else str))
        elif c.component in ("sensor", "binary_sensor") and c.state_topic:
            convert: Convert = (lambda v: _num(v) if _num(v) is not None else v) if c.component == "sensor" else str
            out.append(Binding(c.state_topic, "value", c.value_template, convert))
        return out

    def parse(self, binding: Binding, payload: bytes) -> dict[str, Any]:
        """Turn one state message into {prop: value}; raises PayloadError when it does not fit."""
        wants_json = binding.prop == "*" or (binding.template or "").find("value_json") >= 0
        data: Any
        if wants_json:
            try:
                data = parse_json(payload)
            except PayloadError as exc:
                raise PayloadError(f"state is not usable JSON ({exc})", field=binding.prop, model=self.domain) from None
        else:
            try:
                data = payload.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise PayloadError("state is not valid UTF-8", field=binding.prop, model=self.domain) from None
        if binding.prop == "*":
            if not isinstance(data, dict):
                raise PayloadError("state must be a JSON object", model=self.domain)
            keys = JSON_STATE_KEYS.get(self.domain, tuple(data))
            picked = {k: data[k] for k in keys if k in data}
            if (model := JSON_STATE_MODELS.get(self.domain)) is not None:
                validate_fields(model, picked)  # `{"state": {}}` is a bad message, not a new twin value
            return picked
        try:
            value = extract(binding.template, data)
        except UnsupportedTemplateError as exc:
            raise PayloadError(str(exc), field=binding.prop, model=self.domain) from None
        return {} if value is None else {binding.prop: binding.convert(value)}

    # commanding
    def render(self, cmd: Command) -> Rendered:
        """Protocol form of a command; raises UnsupportedActionError when the device cannot do it."""
        renderer: Callable[[Command], Rendered | None] | None = getattr(self, f"_render_{self.domain}", None)
        result = renderer(cmd) if renderer else None
        if result is None:
            raise UnsupportedActionError(f"{self.name} ({self.domain}) cannot {cmd.name.replace('_', ' ')}")
        return result

    def _need(self, topic: str | None, what: str) -> str:
        if not topic:
            raise UnsupportedActionError(f"{self.name} has no {what} in its discovery config")
        return topic

    def _render_light(self, cmd: Command) -> Rendered | None:
        c = self.config
        topic = self._need(c.command_topic, "command topic")
        if c.schema_ == "json":
            body: dict[str, Any] = {}
            expect: dict[str, list[Any]] = {}
            if cmd.name in ("turn_on", "turn_off"):
                body["state"] = "ON" if cmd.name == "turn_on" else "OFF"
            elif cmd.name == "set_brightness":  # value: percent 0..100
                level = round(float(cmd.value) / 100 * c.brightness_scale)
                body = {"state": "ON" if level > 0 else "OFF"}
                if level > 0:
                    body["brightness"] = level
                    expect["brightness"] = [level]
            elif cmd.name == "set_color":  # value: (r, g, b)
                r, g, b = cmd.value
                body = {"state": "ON", "color": {"r": r, "g": g, "b": b}}
            elif cmd.name == "set_color_temp":  # value: mireds
                body = {"state": "ON", "color_temp": int(cmd.value)}
                expect["color_temp"] = [int(cmd.value)]
            else:
                return None
            expect["state"] = [body["state"]]
            return Rendered((Publish(topic, _json(body)),), expect)
        if cmd.name in ("turn_on", "turn_off"):
            on = cmd.name == "turn_on"
            return Rendered((Publish(topic, (c.payload_on if on else c.payload_off).encode()),),
                            {"state": ["ON" if on else "OFF"]})
        if cmd.name == "set_brightness" and _extra(c, "brightness_command_topic"):
            level = round(float(cmd.value) / 100 * c.brightness_scale)
            return Rendered((Publish(_extra(c, "brightness_command_topic") or "", _str(level)),),
                            {"brightness": [level]} if _extra(c, "brightness_state_topic") else {})
        return None

    def _render_switch(self, cmd: Command) -> Rendered | None:
        if cmd.name not in ("turn_on", "turn_off"):
            return None
        on = cmd.name == "turn_on"
        payload = self.config.payload_on if on else self.config.payload_off
        return Rendered((Publish(self._need(self.config.command_topic, "command topic"), payload.encode()),),
                        {"state": ["ON" if on else "OFF"]})

    _render_fan = _render_switch

    def _render_lock(self, cmd: Command) -> Rendered | None:
        c = self.config
        if cmd.name not in ("lock", "unlock"):
            return None
        lock = cmd.name == "lock"
        return Rendered((Publish(self._need(c.command_topic, "command topic"),
                                 (c.payload_lock if lock else c.payload_unlock).encode()),),
                        {"state": ["LOCKED" if lock else "UNLOCKED"]}, slow=True)

    def _render_cover(self, cmd: Command) -> Rendered | None:
        c = self.config
        if cmd.name in ("open", "close", "stop"):
            payload = {"open": c.payload_open, "close": c.payload_close, "stop": c.payload_stop}[cmd.name]
            if payload is None:
                return None
            expect = {"open": {"state": ["open"]}, "close": {"state": ["closed"]}, "stop": {}}[cmd.name]
            return Rendered((Publish(self._need(c.command_topic, "command topic"), payload.encode()),), expect,
                            slow=True)
        if cmd.name == "set_position":
            pos = round(c.position_closed + (c.position_open - c.position_closed) * float(cmd.value) / 100)
            return Rendered((Publish(self._need(c.set_position_topic, "set_position_topic"), _str(pos)),),
                            {"position": [pos]} if c.position_topic else {}, slow=True)
        return None

    def _render_climate(self, cmd: Command) -> Rendered | None:
        c = self.config
        if cmd.name == "set_temperature":
            value = float(cmd.value)
            if (c.min_temp is not None and value < c.min_temp) or (c.max_temp is not None and value > c.max_temp):
                raise UnsupportedActionError(
                    f"{self.name} accepts {c.min_temp:g} to {c.max_temp:g} degrees, not {value:g}")
            text = f"{value:g}"
            return Rendered((Publish(self._need(c.temperature_command_topic, "temperature_command_topic"),
                                     text.encode()),),
                            {"target_temperature": [value]} if c.temperature_state_topic else {})
        if cmd.name in ("turn_on", "turn_off", "set_hvac_mode"):
            modes = c.modes or ["off", "auto"]
            mode = "off" if cmd.name == "turn_off" else (
                cmd.value if cmd.name == "set_hvac_mode" else next((m for m in ("heat", "auto", "cool") if m in modes),
                                                                    modes[-1]))
            if mode not in modes:
                raise UnsupportedActionError(f"{self.name} has no mode {mode!r} (modes: {', '.join(modes)})")
            return Rendered((Publish(self._need(c.mode_command_topic, "mode_command_topic"), mode.encode()),),
                            {"hvac_mode": [mode]} if c.mode_state_topic else {})
        return None

    def _render_vacuum(self, cmd: Command) -> Rendered | None:
        verbs = {"start": ("start", ["cleaning"]), "turn_on": ("start", ["cleaning"]),
                 "pause": ("pause", ["paused"]), "stop": ("stop", ["idle", "docked"]),
                 "turn_off": ("return_to_base", ["returning", "docked"]),
                 "return_to_base": ("return_to_base", ["returning", "docked"])}
        if cmd.name not in verbs:
            return None
        payload, states = verbs[cmd.name]
        return Rendered((Publish(self._need(self.config.command_topic, "command topic"), payload.encode()),),
                        {"state": states})

    def _render_media_player(self, cmd: Command) -> Rendered | None:
        bodies: dict[str, tuple[dict[str, Any], dict[str, list[Any]]]] = {
            "turn_on": ({"state": "on"}, {"state": ["on", "idle", "playing", "paused"]}),
            "turn_off": ({"state": "off"}, {"state": ["off"]}),
            "media_play": ({"state": "playing"}, {"state": ["playing"]}),
            "media_pause": ({"state": "paused"}, {"state": ["paused"]}),
            "media_next": ({"action": "next"}, {}),
            "media_previous": ({"action": "previous"}, {}),
        }
        if cmd.name == "set_volume":  # value: percent
            level = round(float(cmd.value) / 100, 2)
            bodies["set_volume"] = ({"volume": level}, {"volume": [level]})
        if cmd.name not in bodies:
            return None
        body, expect = bodies[cmd.name]
        return Rendered((Publish(self._need(self.config.command_topic, "command topic"), _json(body)),), expect)


def _extra(config: DiscoveryConfig, key: str) -> str | None:
    value = (config.model_extra or {}).get(key)
    return value if isinstance(value, str) else None


def satisfied(expect: dict[str, list[Any]], reported: dict[str, Any]) -> bool:
    """True when every expected property has one of its accepted values in `reported`."""
    for prop, accepted in expect.items():
        if prop not in reported:
            return False
        value = reported[prop]
        if not any(_same(value, a) for a in accepted):
            return False
    return True


def _same(a: Any, b: Any) -> bool:
    na, nb = _num(a) if not isinstance(a, bool) else None, _num(b) if not isinstance(b, bool) else None
    if na is not None and nb is not None:
        return abs(na - nb) <= 1e-3 * max(1.0, abs(nb))
    return bool(a == b) or (isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower())
