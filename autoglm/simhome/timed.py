"""Devices whose state also changes with time: curtains, robot vacuum, thermostat and sensors."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar

from autoglm.simhome.devices import CommandRejectedError, Entity, Pace, SimDevice, opt_choice, opt_number


@dataclass(eq=False)
class Cover(SimDevice):
    """Motorised curtains: position 0 (closed) to 100 (open), moving at `Pace.cover_speed`."""

    component: ClassVar[str] = "cover"
    kind: ClassVar[str] = "Curtain Motor"
    fields: ClassVar[frozenset[str]] = frozenset({"state", "position"})
    attributes: ClassVar[frozenset[str]] = frozenset({"position"})
    plain_key: ClassVar[str | None] = "state"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._exact = float(self.state["position"])
        self._target: float | None = None
        self._last = 0.0  # when the motion was last advanced
        self._reported = 0.0  # when progress was last published

    def initial_state(self) -> dict[str, Any]:
        """Closed."""
        return {"state": "closed", "position": 0}

    def discovery_extra(self) -> dict[str, Any]:
        """OPEN/CLOSE/STOP on `/set`, a plain 0..100 position on `/set/position`."""
        topics = self.topics
        return {
            "device_class": "curtain",
            "payload_open": "OPEN", "payload_close": "CLOSE", "payload_stop": "STOP",
            "set_position_topic": topics.attribute("position"), "position_topic": topics.state,
            "position_template": "{{ value_json.position }}", "position_open": 100, "position_closed": 0,
            "value_template": "{{ value_json.state }}", "state_open": "open", "state_closed": "closed",
            "state_opening": "opening", "state_closing": "closing",
        }

    @property
    def moving(self) -> bool:
        """Whether the motor is running."""
        return self._target is not None

    def _apply(self, command: dict[str, Any], now: float) -> None:
        action = opt_choice(command, "state", ("OPEN", "CLOSE", "STOP"))
        wanted = opt_number(command, "position", 0, 100)
        position = None if wanted is None else round(wanted)
        if position is None and action is None:
            return
        if position is None and action == "STOP":
            self._target = None
            self._settle()
            return
        target = float(position if position is not None else (100 if action == "OPEN" else 0))
        if abs(target - self._exact) < 0.5:
            self._target = None
            self._exact = target
            self._settle()
            return
        if not self.moving:
            self._last = self._reported = now
        self._target = target
        self.state["state"] = "opening" if target > self._exact else "closing"

    def _settle(self) -> None:
        self.state["position"] = round(self._exact)
        self._exact = float(self.state["position"])
        self.state["state"] = "open" if self.state["position"] > 0 else "closed"

    def tick(self, now: float, pace: Pace) -> bool:
        """Move towards the target; report every `pace.report_every` seconds and on arrival."""
        if self._target is None:
            return False
        step = pace.cover_speed * max(0.0, now - self._last)
        self._last = now
        remaining = self._target - self._exact
        if abs(remaining) <= step:
            self._exact, self._target = self._target, None
            self._settle()
            return True
        self._exact += math.copysign(step, remaining)
        # Round towards where the motion started, so "opening" never reports the target early.
        self.state["position"] = math.floor(self._exact) if remaining > 0 else math.ceil(self._exact)
        if now - self._reported >= pace.report_every:
            self._reported = now
            return True
        return False


@dataclass(eq=False)
class Vacuum(SimDevice):
    """A robot vacuum in HA's MQTT vacuum (state schema) shape."""

    component: ClassVar[str] = "vacuum"
    kind: ClassVar[str] = "Robot Vacuum"
    fields: ClassVar[frozenset[str]] = frozenset({"command", "fan_speed"})
    attributes: ClassVar[frozenset[str]] = frozenset({"fan_speed"})
    plain_key: ClassVar[str | None] = "command"
    commands: ClassVar[tuple[str, ...]] = ("start", "pause", "stop", "return_to_base", "locate", "clean_spot")
    fan_speeds: ClassVar[tuple[str, ...]] = ("quiet", "standard", "turbo")
    drain_per_s: ClassVar[float] = 0.2  # battery percent used per second of cleaning
    charge_per_s: ClassVar[float] = 0.5  # battery percent gained per second on the dock
    low_battery: ClassVar[float] = 10.0

    return_seconds: float = 0.5  # time to drive back to the dock

    def __post_init__(self) -> None:
        super().__post_init__()
        self._battery = float(self.state["battery_level"])
        self._last: float | None = None
        self._dock_at = 0.0

    def initial_state(self) -> dict[str, Any]:
        """Docked and charged."""
        return {"state": "docked", "battery_level": 100, "fan_speed": "standard"}

    def discovery_extra(self) -> dict[str, Any]:
        """Plain commands on `/set`, fan speed on `/set/fan_speed`."""
        return {
            "set_fan_speed_topic": self.topics.attribute("fan_speed"),
            "fan_speed_list": list(self.fan_speeds),
            "supported_features": ["start", "stop", "pause", "return_home", "battery", "status", "locate",
                                   "clean_spot", "fan_speed"],
            "payload_start": "start", "payload_pause": "pause", "payload_stop": "stop",
            "payload_return_to_base": "return_to_base", "payload_locate": "locate",
            "payload_clean_spot": "clean_spot",
        }

    def _apply(self, command: dict[str, Any], now: float) -> None:
        action = opt_choice(command, "command", self.commands)
        fan = opt_choice(command, "fan_speed", self.fan_speeds)
        if fan is not None:
            self.state["fan_speed"] = fan
        current = self.state["state"]
        if action in ("start", "clean_spot"):
            if self._battery < self.low_battery:
                raise CommandRejectedError(f"battery at {self._battery:.0f}% is too low to clean", "command")
            self.state["state"] = "cleaning"
        elif action == "pause" and current in ("cleaning", "returning"):
            self.state["state"] = "paused"
        elif action == "stop" and current != "docked":
            self.state["state"] = "idle"
        elif action == "return_to_base" and current != "docked":
            self._return(now)

    def _return(self, now: float) -> None:
        self.state["state"] = "returning"
        self._dock_at = now + self.return_seconds

    def tick(self, now: float, pace: Pace) -> bool:
        """Drain or charge the battery, dock after returning, go home when the battery runs low."""
        elapsed = 0.0 if self._last is None else max(0.0, now - self._last)
        self._last = now
        before = dict(self.state)
        if self.state["state"] == "returning" and now >= self._dock_at:
            self.state["state"] = "docked"
        if self.state["state"] == "cleaning":
            self._battery = max(0.0, self._battery - self.drain_per_s * elapsed)
            if self._battery <= self.low_battery:
                self._return(now)
        elif self.state["state"] == "docked":
            self._battery = min(100.0, self._battery + self.charge_per_s * elapsed)
        self.state["battery_level"] = round(self._battery)
        return self.state != before


@dataclass(eq=False)
class Thermostat(SimDevice):
    """A zigbee2mqtt-style heating thermostat whose room temperature follows the setpoint."""

    component: ClassVar[str] = "climate"
    kind: ClassVar[str] = "Thermostat"
    fields: ClassVar[frozenset[str]] = frozenset({"system_mode", "occupied_heating_setpoint"})
    attributes: ClassVar[frozenset[str]] = fields
    modes: ClassVar[tuple[str, ...]] = ("off", "heat", "cool", "auto")
    min_temp: ClassVar[float] = 5.0
    max_temp: ClassVar[float] = 30.0
    temp_step: ClassVar[float] = 0.5
    rate_per_s: ClassVar[float] = 0.02  # degrees per second while heating or cooling
    leak_per_s: ClassVar[float] = 0.002  # fraction of the gap to ambient closed per second when idle

    ambient: float = 18.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self._temp = float(self.state["local_temperature"])
        self._last: float | None = None
        self._published = 0.0

    def initial_state(self) -> dict[str, Any]:
        """Heating towards 21 °C from a cool room."""
        return {"system_mode": "heat", "occupied_heating_setpoint": 21.0, "local_temperature": 19.5,
                "running_state": "heat"}

    def discovery_extra(self) -> dict[str, Any]:
        """zigbee2mqtt's climate layout: per-attribute command topics, one JSON state topic."""
        topics = self.topics
        return {
            "mode_command_topic": topics.attribute("system_mode"), "mode_state_topic": topics.state,
            "mode_state_template": "{{ value_json.system_mode }}", "modes": list(self.modes),
            "temperature_command_topic": topics.attribute("occupied_heating_setpoint"),
            "temperature_state_topic": topics.state,
            "temperature_state_template": "{{ value_json.occupied_heating_setpoint }}",
            "current_temperature_topic": topics.state,
            "current_temperature_template": "{{ value_json.local_temperature }}",
            "min_temp": self.min_temp, "max_temp": self.max_temp, "temp_step": self.temp_step,
            "temperature_unit": "C",
        }

    def _apply(self, command: dict[str, Any], now: float) -> None:
        mode = opt_choice(command, "system_mode", self.modes)
        wanted = opt_number(command, "occupied_heating_setpoint", self.min_temp, self.max_temp)
        setpoint = None if wanted is None else round(wanted / self.temp_step) * self.temp_step
        if mode is not None:
            self.state["system_mode"] = mode
        if setpoint is not None:
            self.state["occupied_heating_setpoint"] = setpoint
        self.state.update(local_temperature=round(self._temp, 1), running_state=self._running())

    def _running(self) -> str:
        mode, temp = self.state["system_mode"], self._temp
        target = float(self.state["occupied_heating_setpoint"])
        was = self.state.get("running_state")
        # Hysteresis: start 0.3 degrees away from the setpoint, keep going until it is reached.
        if mode in ("heat", "auto") and (temp < target - 0.3 or (was == "heat" and temp < target)):
            return "heat"
        if mode in ("cool", "auto") and (temp > target + 0.3 or (was == "cool" and temp > target)):
            return "cool"
        return "idle"

    def tick(self, now: float, pace: Pace) -> bool:
        """Move the room temperature; report at most every `pace.sensor_interval` unless heating toggles."""
        elapsed = 0.0 if self._last is None else max(0.0, now - self._last)
        self._last = now
        target = float(self.state["occupied_heating_setpoint"])
        running = self.state["running_state"]
        if running == "heat":
            self._temp = min(target, self._temp + self.rate_per_s * elapsed)
        elif running == "cool":
            self._temp = max(target, self._temp - self.rate_per_s * elapsed)
        else:
            self._temp += (self.ambient - self._temp) * min(1.0, self.leak_per_s * elapsed)
        reading, now_running = round(self._temp, 1), self._running()
        due = now - self._published >= pace.sensor_interval and reading != self.state["local_temperature"]
        if not due and now_running == running:
            return False
        self.state.update(local_temperature=reading, running_state=now_running)
        self._published = now
        return True


@dataclass(eq=False)
class MultiSensor(SimDevice):
    """A temperature and humidity sensor reporting every `Pace.sensor_interval` seconds."""

    component: ClassVar[str] = "sensor"
    kind: ClassVar[str] = "Temperature and Humidity Sensor"
    readings: ClassVar[tuple[tuple[str, str, str, str], ...]] = (
        ("temperature", "Temperature", "温度", "°C"),
        ("humidity", "Humidity", "湿度", "%"),
    )

    temperature: float = 21.0  # baseline the readings wander around
    humidity: float = 45.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self._rng = random.Random(self.device_id)
        self._next: float | None = None

    def initial_state(self) -> dict[str, Any]:
        """The baseline readings."""
        return {"temperature": self.temperature, "humidity": self.humidity}

    def discovery(self) -> list[Entity]:
        """Two entities, `<id>_temperature` and `<id>_humidity`, sharing the device's state topic."""
        entities = []
        for key, label, label_zh, unit in self.readings:
            object_id = f"{self.device_id}_{key}"
            config = self.entity_config(object_id, f"{self.area} {label}", f"{self.area_zh}{label_zh}")
            config.update(value_template=f"{{{{ value_json.{key} }}}}", device_class=key,
                          unit_of_measurement=unit, state_class="measurement")
            entities.append(Entity(self.component, object_id, config))
        return entities

    def tick(self, now: float, pace: Pace) -> bool:
        """A new reading each interval: a random walk pulled back towards the baseline."""
        if self._next is None:
            self._next = now + pace.sensor_interval
        if now < self._next:
            return False
        self._next = now + pace.sensor_interval
        temperature = self.state["temperature"]
        humidity = self.state["humidity"]
        temperature += 0.1 * (self.temperature - temperature) + self._rng.gauss(0.0, 0.08)
        humidity += 0.1 * (self.humidity - humidity) + self._rng.gauss(0.0, 0.3)
        humidity = min(100.0, max(0.0, humidity))
        self.state.update(temperature=round(temperature, 1), humidity=round(humidity, 1))
        return True
