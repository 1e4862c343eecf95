"""A small fleet and in-memory fakes of the executor's ports, shared by the planner tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cloud.fleet import Caller, Device
from shared.plan import Plan


def home_devices() -> list[Device]:
    """Devices of site "home" (one edge) plus one device of site "office"."""
    def dev(device_id: str, domain: str, name: str, area: str | None, state: dict[str, Any],
            device_class: str | None = None, site: str = "home") -> Device:
        edge = "edge-1" if site == "home" else "edge-9"
        return Device(device_id, edge, site, domain, name, area, device_class, state)

    return [
        dev("light.kitchen", "light", "Kitchen light", "kitchen", {"state": "OFF"}),
        dev("light.living", "light", "Living room lamp", "living room", {"state": "ON", "brightness_pct": 55}),
        dev("light.bedroom", "light", "卧室灯", "卧室", {"state": "OFF"}),
        dev("switch.coffee", "switch", "Coffee machine", "kitchen", {"state": "OFF"}),
        dev("fan.bedroom", "fan", "Bedroom fan", "卧室", {"state": "OFF", "percentage": 0}),
        dev("climate.bedroom", "climate", "卧室空调", "卧室", {"hvac_mode": "off", "current_temperature": 27.5}),
        dev("cover.garage", "cover", "Garage door", "garage", {"state": "closed"}, device_class="garage"),
        dev("cover.blinds", "cover", "Living blinds", "living room", {"state": "open"}, device_class="blind"),
        dev("lock.front", "lock", "Front door", "hall", {"state": "locked"}),
        dev("vacuum.robot", "vacuum", "Robot vacuum", None, {"state": "docked"}),
        dev("media_player.tv", "media_player", "TV", "living room", {"state": "off"}),
        dev("alarm_control_panel.house", "alarm_control_panel", "Alarm", None, {"state": "armed_away"}),
        dev("sensor.bedroom_temperature", "sensor", "卧室温度", "卧室", {"state": "26.5"}),
        dev("binary_sensor.door", "binary_sensor", "Door contact", "hall", {"state": "off"}),
        dev("light.office", "light", "Office light", "office", {"state": "OFF"}, site="office"),
    ]


def home_caller(role: str = "operator") -> Caller:
    """A token of `role` scoped to site "home"."""
    return Caller(subject=f"{role}-token", role=role, sites=frozenset({"home"}))


def plan_of(*steps: tuple[str, str, dict[str, Any], list[str]]) -> Plan:
    """A plan from (id, tool, args, after) tuples."""
    return Plan.model_validate({"steps": [{"id": i, "tool": t, "args": a, "after": af} for i, t, a, af in steps]})


@dataclass
class FakeCommander:
    """Records actions; answers with the device's state merged with the action's args, or a scripted behaviour."""

    states: dict[str, dict[str, Any]]
    calls: list[tuple[str, str, dict[str, Any], str]] = field(default_factory=list)
    behaviours: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = field(default_factory=dict)

    async def act(self, device: Device, service: str, args: dict[str, Any], *, trace_id: str,
                  timeout_s: float) -> dict[str, Any]:
        self.calls.append((device.device_id, service, dict(args), trace_id))
        behaviour = self.behaviours.get(device.device_id)
        if behaviour is not None:
            return await behaviour()
        state = self.states.setdefault(device.device_id, {})
        state.update(args)
        if service in ("turn_on", "turn_off"):
            state["state"] = "ON" if service == "turn_on" else "OFF"
        return dict(state)

    async def state(self, device: Device) -> dict[str, Any]:
        return dict(self.states.get(device.device_id, {}))


@dataclass
class FakeAudit:
    """Keeps every audit entry in order; `drop` names (action, step) pairs it silently loses."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    drop: set[tuple[str, str]] = field(default_factory=set)

    async def record(self, *, actor: str, action: str, target: str, trace_id: str,
                     detail: dict[str, Any] | None = None) -> None:
        detail = detail or {}
        if (action, str(detail.get("step"))) in self.drop:
            return
        self.entries.append({"actor": actor, "action": action, "target": target, "trace_id": trace_id,
                             "detail": detail})


@dataclass
class FakeNotifier:
    """Keeps every message."""

    messages: list[tuple[str, str]] = field(default_factory=list)

    async def notify(self, message: str, *, trace_id: str) -> None:
        self.messages.append((message, trace_id))


@dataclass
class FakeClock:
    """Records waits instead of sleeping."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)
