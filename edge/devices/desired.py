"""Desired twin values from the cloud turned into the edge's device commands (the inverse of state parsing)."""

from __future__ import annotations

from typing import Any

from edge.devices.entity import Command, Entity, satisfied
from shared.errors import UnsupportedActionError

#: Desired `state` per domain -> the command that gets the device there.
STATE_COMMANDS: dict[str, dict[str, str]] = {
    "light": {"on": "turn_on", "off": "turn_off"},
    "switch": {"on": "turn_on", "off": "turn_off"},
    "fan": {"on": "turn_on", "off": "turn_off"},
    "lock": {"locked": "lock", "unlocked": "unlock"},
    "cover": {"open": "open", "closed": "close"},
    "vacuum": {"cleaning": "start", "docked": "return_to_base", "returning": "return_to_base", "idle": "stop",
               "paused": "pause"},
    "media_player": {"on": "turn_on", "off": "turn_off", "playing": "media_play", "paused": "media_pause"},
}


def _number(value: Any, prop: str) -> float:
    if isinstance(value, bool):
        raise UnsupportedActionError(f"desired {prop} must be a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UnsupportedActionError(f"desired {prop} must be a number, not {value!r}") from None


def _state_command(entity: Entity, value: Any) -> Command:
    name = STATE_COMMANDS.get(entity.domain, {}).get(str(value).casefold())
    if name is None:
        raise UnsupportedActionError(f"{entity.name} ({entity.domain}) has no desired state {value!r}")
    return Command(name)


def _prop_command(entity: Entity, prop: str, value: Any) -> Command:
    domain, config = entity.domain, entity.config
    if prop == "state":
        return _state_command(entity, value)
    if domain == "light" and prop == "brightness":
        return Command("set_brightness", _number(value, prop) * 100 / config.brightness_scale)
    if domain == "light" and prop == "color" and isinstance(value, dict):
        try:
            return Command("set_color", (int(value["r"]), int(value["g"]), int(value["b"])))
        except (KeyError, TypeError, ValueError):
            raise UnsupportedActionError("desired color must be {r, g, b}") from None
    if domain == "light" and prop == "color_temp":
        return Command("set_color_temp", _number(value, prop))
    if domain == "cover" and prop == "position":
        span = (config.position_open - config.position_closed) or 100
        return Command("set_position", (_number(value, prop) - config.position_closed) * 100 / span)
    if domain == "climate" and prop == "target_temperature":
        return Command("set_temperature", _number(value, prop))
    if domain == "climate" and prop == "hvac_mode":
        return Command("turn_off") if str(value) == "off" else Command("set_hvac_mode", str(value))
    if domain == "media_player" and prop == "volume":
        return Command("set_volume", _number(value, prop) * 100)
    raise UnsupportedActionError(f"{entity.name} ({domain}) cannot be set to {prop}={value!r}")


def desired_commands(entity: Entity, desired: dict[str, Any], reported: dict[str, Any]) -> list[Command]:
    """Commands that move `entity` from `reported` to `desired`; properties already there need none."""
    wanted = {p: v for p, v in desired.items() if v is not None and not satisfied({p: [v]}, reported)}
    state = wanted.get("state")
    if state is not None and str(state).casefold() == "on" and ("brightness" in wanted or "color" in wanted):
        del wanted["state"]  # setting a level or colour turns a light on by itself
    if state is not None and str(state).casefold() in ("off", "closed", "docked", "idle"):
        wanted = {"state": state}  # other values would switch it back on
    commands = [_prop_command(entity, "state", state)] if "state" in wanted else []
    commands += [_prop_command(entity, p, v) for p, v in wanted.items() if p != "state"]
    return commands
