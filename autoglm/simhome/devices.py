"""Simulated device behaviour, free of MQTT: state, command decoding, validation and discovery configs."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from shared.codec import parse_json
from shared.errors import DeviceRejectedError, PayloadError
from shared.topics import check_segment

#: Root of every simulated device's own topics, like zigbee2mqtt's `zigbee2mqtt/<friendly name>`.
SIM_ROOT = "autoglm-sim"
#: Node id segment of the simulator's discovery topics.
NODE_ID = "autoglm_sim"


class CommandRejectedError(DeviceRejectedError):
    """A command the device refuses; `field` names the offending key, None when the payload is unreadable."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Pace:
    """How fast simulated time-driven behaviour runs."""

    sensor_interval: float = 5.0  # seconds between periodic sensor reports
    cover_speed: float = 100.0  # percent of travel per second
    report_every: float = 0.2  # seconds between progress reports while something moves


@dataclass(frozen=True, slots=True)
class DeviceTopics:
    """The topics of one simulated device, under `autoglm-sim/<id>`."""

    device_id: str

    @property
    def state(self) -> str:
        """JSON state, retained."""
        return f"{SIM_ROOT}/{self.device_id}"

    @property
    def command(self) -> str:
        """Main command topic."""
        return f"{self.state}/set"

    def attribute(self, name: str) -> str:
        """Per-attribute command topic taking a plain value."""
        return f"{self.command}/{name}"

    @property
    def availability(self) -> str:
        """`online` / `offline`, retained; the will sets `offline`."""
        return f"{self.state}/availability"

    @property
    def error(self) -> str:
        """Rejected-command events (DeviceErrorEvent), not retained."""
        return f"{self.state}/error"

    def attribute_of(self, topic: str) -> str | None:
        """The attribute a command topic addresses: None for `/set`, the last segment for `/set/<attr>`."""
        return None if topic == self.command else topic.removeprefix(self.command + "/")


@dataclass(frozen=True, slots=True)
class Entity:
    """One Home Assistant entity a device announces."""

    component: str
    object_id: str
    config: dict[str, Any]


def number(value: Any, name: str, low: float, high: float) -> float:
    """A finite number (or numeric string) within [low, high], else a rejection naming `name`."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise CommandRejectedError(f"{name} must be a number, got {value!r}", name) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CommandRejectedError(f"{name} must be a number, got {value!r}", name)
    if not low <= value <= high:
        raise CommandRejectedError(f"{name} {value} is out of range {low:g}..{high:g}", name)
    return float(value)


def choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    """One of `allowed`, matched case-insensitively, else a rejection naming `name`."""
    if isinstance(value, str):
        for option in allowed:
            if value.strip().lower() == option.lower():
                return option
    raise CommandRejectedError(f"{name} {value!r} is not one of {', '.join(allowed)}", name)


def opt_number(command: dict[str, Any], key: str, low: float, high: float) -> float | None:
    """`number` of `command[key]`, or None when the key is absent."""
    return number(command[key], key, low, high) if key in command else None


def opt_choice(command: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    """`choice` of `command[key]`, or None when the key is absent."""
    return choice(command[key], key, allowed) if key in command else None


@dataclass(eq=False)
class SimDevice:
    """Base of every simulated device: identity, names in English and Chinese, JSON state."""

    component: ClassVar[str]
    kind: ClassVar[str]  # shown as the device model, "Simulated <kind>"
    fields: ClassVar[frozenset[str]] = frozenset()  # keys a JSON command may carry
    attributes: ClassVar[frozenset[str]] = frozenset()  # `/set/<attr>` topics that take a plain value
    plain_key: ClassVar[str | None] = None  # key a plain (non-JSON-object) `/set` payload stands for

    device_id: str
    name: str
    name_zh: str
    area: str
    area_zh: str
    state: dict[str, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        check_segment(self.device_id, "device id")
        self.state = self.initial_state()

    def initial_state(self) -> dict[str, Any]:
        """The state a freshly powered device reports."""
        return {}

    @property
    def topics(self) -> DeviceTopics:
        """This device's topics."""
        return DeviceTopics(self.device_id)

    @property
    def commandable(self) -> bool:
        """Whether the device listens on a command topic."""
        return bool(self.fields or self.attributes)

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the current state."""
        return copy.deepcopy(self.state)

    def decode(self, attribute: str | None, raw: bytes) -> dict[str, Any]:
        """Turn a payload on `/set` (attribute None) or `/set/<attribute>` into a JSON-style command."""
        try:
            value: Any = parse_json(raw)
        except PayloadError as exc:
            try:
                value = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise CommandRejectedError("payload is not UTF-8 text") from None
            if attribute is None and self.plain_key is None:
                raise CommandRejectedError(f"command must be a JSON object: {exc}") from None
        if attribute is not None:
            if attribute not in self.attributes:
                reason = f"{self.device_id} has no command topic /set/{attribute}"
                raise CommandRejectedError(reason, attribute)
            if isinstance(value, dict | list):
                raise CommandRejectedError(f"/set/{attribute} takes a plain value", attribute)
            return {attribute: value}
        if isinstance(value, dict):
            return value
        if self.plain_key is None:
            raise CommandRejectedError("command must be a JSON object")
        return {self.plain_key: value}

    def apply_command(self, command: dict[str, Any], now: float) -> dict[str, Any]:
        """Apply a decoded command at monotonic time `now`; returns the new state or raises, unchanged."""
        for key in command:
            if key not in self.fields:
                accepted = ", ".join(sorted(self.fields)) or "nothing"
                raise CommandRejectedError(f"unknown field {key!r}; {self.device_id} accepts {accepted}", key)
        before = copy.deepcopy(self.state)
        try:
            self._apply(command, now)
        except CommandRejectedError:
            self.state = before
            raise
        return self.snapshot()

    def _apply(self, command: dict[str, Any], now: float) -> None:
        raise CommandRejectedError(f"{self.device_id} takes no commands")

    def tick(self, now: float, pace: Pace) -> bool:
        """Advance time-driven behaviour to `now`; True when the state should be published."""
        return False

    def entity_config(self, object_id: str, name: str, name_zh: str) -> dict[str, Any]:
        """The discovery keys every entity shares, in full (non-abbreviated) form."""
        topics = self.topics
        config: dict[str, Any] = {
            "unique_id": f"{NODE_ID}_{object_id}",
            "name": name,
            "object_id": object_id,
            "state_topic": topics.state,
            "availability_topic": topics.availability,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": {
                "identifiers": [f"{NODE_ID}_{self.device_id}"],
                "name": self.name,
                "manufacturer": "AutoGLM",
                "model": f"Simulated {self.kind}",
                "suggested_area": self.area,
            },
            "aliases": {"zh-cn": [name_zh]},
            "suggested_area_aliases": {"zh-cn": self.area_zh},
        }
        if self.commandable:
            # `error_topic` is our extension (HA ignores it): where rejected commands are explained.
            config.update(command_topic=topics.command, error_topic=topics.error)
        return config

    def discovery(self) -> list[Entity]:
        """The entities to announce: by default one, named like the device."""
        config = self.entity_config(self.device_id, self.name, self.name_zh)
        config.update(self.discovery_extra())
        return [Entity(self.component, self.device_id, config)]

    def discovery_extra(self) -> dict[str, Any]:
        """Component-specific discovery keys."""
        return {}
