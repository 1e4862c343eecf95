"""What the cloud's parts agree on: the fleet's device view, device actions per domain, and the ports
(interfaces) the API, the planner and the executor use to reach each other. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Protocol

# What needs a confirmation is one rule for the cloud and the edge (re-exported for the cloud's parts).
from shared.confirmation import BULK_ACTION_LIMIT as BULK_ACTION_LIMIT
from shared.confirmation import SENSITIVE_ACTIONS as SENSITIVE_ACTIONS
from shared.confirmation import SENSITIVE_COVER_CLASSES as SENSITIVE_COVER_CLASSES
from shared.plan import Plan, PlanRequest

#: Device actions a plan may call, per HA domain, as HA service names; with their argument names and types.
#: ("number" args are 0-100 percentages unless named otherwise; "temperature" is in the device's unit.)
DOMAIN_ACTIONS: Final[dict[str, dict[str, dict[str, str]]]] = {
    "light": {"turn_on": {"brightness_pct": "number", "color_name": "string"}, "turn_off": {}, "toggle": {}},
    "switch": {"turn_on": {}, "turn_off": {}, "toggle": {}},
    "fan": {"turn_on": {"percentage": "number"}, "turn_off": {}, "set_percentage": {"percentage": "number"}},
    "climate": {"set_temperature": {"temperature": "number"}, "turn_on": {}, "turn_off": {},
                "set_hvac_mode": {"hvac_mode": "string"}},
    "cover": {"open_cover": {}, "close_cover": {}, "stop_cover": {}, "set_cover_position": {"position": "number"}},
    "lock": {"lock": {}, "unlock": {}},
    "vacuum": {"start": {}, "stop": {}, "return_to_base": {}},
    "media_player": {"media_play": {}, "media_pause": {}, "media_next_track": {}, "media_previous_track": {},
                     "volume_set": {"volume_level": "number"}, "turn_on": {}, "turn_off": {}},
    "alarm_control_panel": {"alarm_arm_away": {}, "alarm_arm_home": {}, "alarm_disarm": {}},
    "sensor": {},
    "binary_sensor": {},
}


@dataclass(frozen=True, slots=True)
class Device:
    """One device as the cloud sees it (from the edges' discovery and twins)."""

    device_id: str
    edge_id: str
    site: str
    domain: str
    name: str
    area: str | None = None
    device_class: str | None = None
    state: dict[str, Any] = field(default_factory=dict)

    def action_names(self) -> list[str]:
        """'domain.service' names this device accepts."""
        return [f"{self.domain}.{service}" for service in DOMAIN_ACTIONS.get(self.domain, {})]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: a token's role and the sites it may see (None = every site)."""

    subject: str
    role: str
    sites: frozenset[str] | None = None

    def sees(self, site: str) -> bool:
        """True when this caller may see (and act on) devices of `site`."""
        return self.sites is None or site in self.sites


class Planner(Protocol):
    """Turns a request into a plan over the devices the caller can see (local GLM engine or remote server)."""

    async def propose(self, request: PlanRequest, devices: list[Device], *, trace_id: str) -> Plan:
        """A plan that names only `devices` and catalogue tools; raises PlannerError subclasses."""
        ...


class EdgeCommander(Protocol):
    """Sends a device action to the edge that owns the device and waits for the device's confirmation."""

    async def act(self, device: Device, service: str, args: dict[str, Any], *, trace_id: str,
                  timeout_s: float) -> dict[str, Any]:
        """The device's reported state after the action; raises DeviceError subclasses."""
        ...

    async def state(self, device: Device) -> dict[str, Any]:
        """The device's last reported state (from the twin)."""
        ...


class AuditSink(Protocol):
    """Append-only audit log."""

    async def record(self, *, actor: str, action: str, target: str, trace_id: str,
                     detail: dict[str, Any] | None = None) -> None:
        """Append one entry."""
        ...


class Notifier(Protocol):
    """Where `notify` steps go (operators' channel)."""

    async def notify(self, message: str, *, trace_id: str) -> None:
        """Deliver one message."""
        ...
