"""Devices that change only when commanded: lights, plugs, locks and the media player."""

from __future__ import annotations

import colorsys
import random
from dataclasses import dataclass
from typing import Any, ClassVar

from autoglm.simhome.devices import CommandRejectedError, SimDevice, number, opt_choice, opt_number

_ON_OFF = ("ON", "OFF", "TOGGLE")


def _channel(value: float) -> int:
    return max(0, min(255, round(value * 255)))


def hs_to_rgb(hue: float, saturation: float) -> dict[str, int]:
    """Hue in degrees and saturation in percent to full-brightness sRGB."""
    r, g, b = colorsys.hsv_to_rgb(hue / 360.0, saturation / 100.0, 1.0)
    return {"r": _channel(r), "g": _channel(g), "b": _channel(b)}


def xy_to_rgb(x: float, y: float) -> dict[str, int]:
    """CIE 1931 xy (at full luminance) to sRGB, scaled so the brightest channel is 255."""
    y = max(y, 1e-6)
    big_x, big_z = x / y, (1.0 - x - y) / y
    linear = (
        3.2406 * big_x - 1.5372 - 0.4986 * big_z,
        -0.9689 * big_x + 1.8758 + 0.0415 * big_z,
        0.0557 * big_x - 0.2040 + 1.0570 * big_z,
    )
    clipped = (max(v, 0.0) for v in linear)
    gamma = [12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055 for c in clipped]
    peak = max(*gamma, 1e-6)
    r, g, b = (c / peak for c in gamma)
    return {"r": _channel(r), "g": _channel(g), "b": _channel(b)}


def parse_color(value: Any) -> dict[str, int]:
    """A colour in any of HA's JSON-light forms ({r,g,b}, {h,s}, {x,y}) as sRGB."""
    if isinstance(value, dict):
        if {"r", "g", "b"} <= value.keys():
            return {c: round(number(value[c], "color", 0, 255)) for c in ("r", "g", "b")}
        if {"h", "s"} <= value.keys():
            return hs_to_rgb(number(value["h"], "color", 0, 360), number(value["s"], "color", 0, 100))
        if {"x", "y"} <= value.keys():
            return xy_to_rgb(number(value["x"], "color", 0, 1), number(value["y"], "color", 0, 1))
    raise CommandRejectedError(f"color {value!r} must be {{r,g,b}}, {{h,s}} or {{x,y}}", "color")


@dataclass(eq=False)
class Light(SimDevice):
    """A dimmable colour light with HA's JSON schema, as zigbee2mqtt exposes one."""

    component: ClassVar[str] = "light"
    kind: ClassVar[str] = "Light"
    fields: ClassVar[frozenset[str]] = frozenset({"state", "brightness", "color", "color_temp", "transition"})

    def initial_state(self) -> dict[str, Any]:
        """Off, remembering a warm white at 80%."""
        return {"state": "OFF", "brightness": 204, "color_mode": "color_temp",
                "color": {"r": 255, "g": 255, "b": 255}, "color_temp": 370}

    def discovery_extra(self) -> dict[str, Any]:
        """JSON schema, 0..255 brightness, rgb and colour temperature."""
        return {"schema": "json", "brightness": True, "brightness_scale": 255,
                "supported_color_modes": ["rgb", "color_temp"], "min_mireds": 153, "max_mireds": 500}

    def _apply(self, command: dict[str, Any], now: float) -> None:
        switch = opt_choice(command, "state", _ON_OFF)
        level = opt_number(command, "brightness", 0, 255)
        brightness = None if level is None else round(level)
        color = parse_color(command["color"]) if "color" in command else None
        temp = opt_number(command, "color_temp", 153, 500)
        mireds = None if temp is None else round(temp)
        opt_number(command, "transition", 0, 3600)  # accepted; changes are instant here
        if color is not None and mireds is not None:
            raise CommandRejectedError("color and color_temp cannot be set together", "color_temp")
        was_on = self.state["state"] == "ON"
        on = was_on
        # Setting a level or colour implies ON; an explicit state wins; brightness 0 always means OFF.
        if (brightness is not None and brightness > 0) or color is not None or mireds is not None:
            on = True
        if brightness:
            self.state["brightness"] = brightness
        if color is not None:
            self.state.update(color=color, color_mode="rgb")
        if mireds is not None:
            self.state.update(color_temp=mireds, color_mode="color_temp")
        if switch is not None:
            on = (not was_on) if switch == "TOGGLE" else switch == "ON"
        if brightness == 0:
            on = False
        self.state["state"] = "ON" if on else "OFF"


@dataclass(eq=False)
class Switch(SimDevice):
    """A smart plug that meters the power of what is plugged in."""

    component: ClassVar[str] = "switch"
    kind: ClassVar[str] = "Smart Plug"
    fields: ClassVar[frozenset[str]] = frozenset({"state"})
    plain_key: ClassVar[str | None] = "state"

    watts: float = 60.0  # draw of the appliance when on

    def initial_state(self) -> dict[str, Any]:
        """Off, drawing nothing."""
        return {"state": "OFF", "power": 0.0}

    def discovery_extra(self) -> dict[str, Any]:
        """State read from the JSON `state` key; plain ON/OFF commands."""
        return {"value_template": "{{ value_json.state }}", "payload_on": "ON", "payload_off": "OFF"}

    def _apply(self, command: dict[str, Any], now: float) -> None:
        switch = opt_choice(command, "state", _ON_OFF)
        if switch is None:
            return
        on = (self.state["state"] != "ON") if switch == "TOGGLE" else switch == "ON"
        jitter = random.Random(f"{self.device_id}{now}").uniform(0.97, 1.03)
        self.state.update(state="ON" if on else "OFF", power=round(self.watts * jitter, 1) if on else 0.0)


@dataclass(eq=False)
class Lock(SimDevice):
    """A door lock."""

    component: ClassVar[str] = "lock"
    kind: ClassVar[str] = "Door Lock"
    fields: ClassVar[frozenset[str]] = frozenset({"state"})
    plain_key: ClassVar[str | None] = "state"

    def initial_state(self) -> dict[str, Any]:
        """Locked."""
        return {"state": "LOCKED"}

    def discovery_extra(self) -> dict[str, Any]:
        """LOCK/UNLOCK commands, LOCKED/UNLOCKED states."""
        return {"value_template": "{{ value_json.state }}", "payload_lock": "LOCK",
                "payload_unlock": "UNLOCK", "state_locked": "LOCKED", "state_unlocked": "UNLOCKED"}

    def _apply(self, command: dict[str, Any], now: float) -> None:
        action = opt_choice(command, "state", ("LOCK", "UNLOCK"))
        if action is not None:
            self.state["state"] = "LOCKED" if action == "LOCK" else "UNLOCKED"


@dataclass(eq=False)
class MediaPlayer(SimDevice):
    """A networked speaker with a short playlist."""

    component: ClassVar[str] = "media_player"
    kind: ClassVar[str] = "Speaker"
    fields: ClassVar[frozenset[str]] = frozenset({"state", "volume", "action"})
    plain_key: ClassVar[str | None] = "state"
    playlist: ClassVar[tuple[str, ...]] = ("Clair de Lune", "Take Five", "茉莉花", "So What", "月亮代表我的心")
    states: ClassVar[tuple[str, ...]] = ("on", "off", "playing", "paused")
    actions: ClassVar[tuple[str, ...]] = ("next", "previous", "volume_up", "volume_down", "mute")
    volume_step: ClassVar[float] = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        self._unmuted = float(self.state["volume"])

    def initial_state(self) -> dict[str, Any]:
        """Off, at 30% volume, first track queued."""
        return {"state": "off", "volume": 0.3, "media_title": self.playlist[0], "source": "Playlist"}

    def discovery_extra(self) -> dict[str, Any]:
        """State read from the JSON `state` key (our extension; HA has no MQTT media player)."""
        return {"value_template": "{{ value_json.state }}"}

    def _apply(self, command: dict[str, Any], now: float) -> None:
        state = opt_choice(command, "state", self.states)
        volume = opt_number(command, "volume", 0, 1)
        action = opt_choice(command, "action", self.actions)
        if state is not None:
            self.state["state"] = state
        if volume is not None:
            self._set_volume(volume)
        if action in ("next", "previous"):
            index = self.playlist.index(self.state["media_title"]) + (1 if action == "next" else -1)
            self.state["media_title"] = self.playlist[index % len(self.playlist)]
            if self.state["state"] in ("on", "off"):
                self.state["state"] = "playing"
        elif action in ("volume_up", "volume_down"):
            step = self.volume_step if action == "volume_up" else -self.volume_step
            self._set_volume(min(1.0, max(0.0, self.state["volume"] + step)))
        elif action == "mute":
            if self.state["volume"] > 0:
                self._unmuted = self.state["volume"]
                self.state["volume"] = 0.0
            else:
                self.state["volume"] = self._unmuted or 0.3

    def _set_volume(self, volume: float) -> None:
        self.state["volume"] = round(volume, 2)
        if volume > 0:
            self._unmuted = self.state["volume"]
