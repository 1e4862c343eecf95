"""What an HA service call in a plan ("light.turn_on" with its args) asks of a device's twin.

Both sides need the same answer: the cloud's executor turns plan steps into desired deltas for the edge, and the
edge replays a cached cloud plan by itself while the cloud is away.

Twin properties use the names and units the devices report (HA MQTT conventions): `state`, `brightness`
(0-255, HA's default scale), `position` (0-100), `target_temperature`, `hvac_mode`, `volume` (0-1).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.errors import UnsupportedActionError
from shared.sync import DeviceCommand

#: Colour names a plan may use, as sRGB.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255),
    "warm white": (255, 214, 170), "yellow": (255, 255, 0), "orange": (255, 165, 0), "purple": (128, 0, 128),
    "pink": (255, 105, 180), "cyan": (0, 255, 255),
}


@dataclass(frozen=True, slots=True)
class Change:
    """What one action asks of a device: desired values and the reported values that confirm them, or a command."""

    desired: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, list[Any]] = field(default_factory=dict)
    command: DeviceCommand | None = None


def _state(value: Any, *accepted: Any) -> Change:
    return Change({"state": value}, {"state": list(accepted or (value,))})


def _pct(args: dict[str, Any], key: str) -> float:
    try:
        value = float(args[key])
    except (KeyError, TypeError, ValueError):
        raise UnsupportedActionError(f"argument {key} must be a number from 0 to 100") from None
    if not 0 <= value <= 100:
        raise UnsupportedActionError(f"argument {key} must be from 0 to 100, not {value:g}")
    return value


def translate(domain: str, device_id: str, name: str, service: str, args: dict[str, Any],
              reported: dict[str, Any]) -> Change:
    """Map an HA service call on a device of `domain` to a twin change; UnsupportedActionError for anything else."""
    service = service.removeprefix(f"{domain}.")

    def cmd(command: str) -> Change:
        return Change(command=DeviceCommand(device_id=device_id, command=command))

    on = str(reported.get("state", "")).upper() == "ON"
    if domain in ("light", "switch", "fan"):
        if service == "toggle":
            service = "turn_off" if on else "turn_on"
        level = next((args[k] for k in ("brightness_pct", "percentage") if args.get(k) is not None), None)
        if service == "turn_off" or (level is not None and _pct(args, "brightness_pct" if domain == "light"
                                                                else "percentage") == 0):
            return _state("OFF")
        if service in ("turn_on", "set_percentage"):
            change = _state("ON")
            if domain == "light" and level is not None:
                brightness = round(_pct(args, "brightness_pct") / 100 * 255)
                change.desired["brightness"], change.expect["brightness"] = brightness, [brightness]
            if domain == "light" and args.get("color_name"):
                rgb = COLORS.get(str(args["color_name"]).casefold())
                if rgb is None:
                    raise UnsupportedActionError(f"unknown colour {args['color_name']!r} (known: {', '.join(COLORS)})")
                change.desired["color"] = {"r": rgb[0], "g": rgb[1], "b": rgb[2]}
            return change
    elif domain == "climate":
        if service == "set_temperature":
            value = float(args.get("temperature", "nan"))
            if value != value:  # NaN: missing or not a number
                raise UnsupportedActionError("set_temperature needs a numeric temperature")
            return Change({"target_temperature": value}, {"target_temperature": [value]})
        if service in ("turn_off", "set_hvac_mode"):
            mode = "off" if service == "turn_off" else str(args.get("hvac_mode", ""))
            return Change({"hvac_mode": mode}, {"hvac_mode": [mode]})
        if service == "turn_on":
            return cmd("turn_on")
    elif domain == "cover":
        if service in ("open_cover", "close_cover"):
            return _state("open" if service == "open_cover" else "closed")
        if service == "stop_cover":
            return cmd("stop")
        if service == "set_cover_position":
            position = round(_pct(args, "position"))
            return Change({"position": position}, {"position": [position]})
    elif domain == "lock" and service in ("lock", "unlock"):
        return _state("LOCKED" if service == "lock" else "UNLOCKED")
    elif domain == "vacuum":
        if service == "start":
            return _state("cleaning")
        if service == "return_to_base":
            return _state("docked", "returning", "docked")
        if service == "stop":
            return cmd("stop")
    elif domain == "media_player":
        simple = {"media_play": "playing", "media_pause": "paused", "turn_off": "off"}
        if service in simple:
            return _state(simple[service])
        if service == "turn_on":
            return cmd("turn_on")
        if service in ("media_next_track", "media_previous_track"):
            return cmd("media_next" if service == "media_next_track" else "media_previous")
        if service == "volume_set":
            volume = round(_pct(args, "volume_level") / 100, 2)
            return Change({"volume": volume}, {"volume": [volume]})
    elif domain == "alarm_control_panel" and service.startswith("alarm_"):
        state = {"alarm_arm_away": "armed_away", "alarm_arm_home": "armed_home", "alarm_disarm": "disarmed"}
        if service in state:
            return _state(state[service])
    raise UnsupportedActionError(f"{name} ({domain}) cannot {service.replace('_', ' ')}")


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def compare(left: Any, op: str, right: Any) -> bool:
    """A plan's `condition`: numbers (and numeric strings such as sensor states) by value, text case-insensitively;
    ValueError when the two cannot be ordered."""
    left_n, right_n = _number(left), _number(right)
    if left_n is not None and right_n is not None:
        return _COMPARE[op](left_n, right_n)
    if isinstance(left, str) and isinstance(right, str):
        return _COMPARE[op](left.lower(), right.lower())
    if op in ("eq", "ne"):
        return _COMPARE[op](left, right)
    raise ValueError(f"cannot compare {left!r} {op} {right!r}")
