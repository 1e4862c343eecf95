"""EdgeCommander over the twin: a device action becomes a desired delta (or a momentary command) and is
confirmed when the device's reported twin shows it.

Twin properties use the names and units the devices report (HA MQTT conventions): `state`, `brightness`
(0-255, HA's default scale), `position` (0-100), `target_temperature`, `hvac_mode`, `volume` (0-1).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from cloud.bus import CloudBus
from cloud.fleet import Device
from cloud.twin_sync import TwinStore, TwinSync, reported_of, values_match
from shared.codec import encode
from shared.envelope import Envelope
from shared.errors import (
    DeviceError,
    DeviceRejectedError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    TransportError,
    UnknownDeviceError,
    UnsupportedActionError,
)
from shared.sync import ApplyResult, DeviceCommand
from shared.topics import EdgeChannel, edge_topic

log = logging.getLogger(__name__)

#: Colour names a plan may use, as sRGB.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255),
    "warm white": (255, 214, 170), "yellow": (255, 255, 0), "orange": (255, 165, 0), "purple": (128, 0, 128),
    "pink": (255, 105, 180), "cyan": (0, 255, 255),
}

_ERRORS: dict[str, type[DeviceError]] = {
    "rejected": DeviceRejectedError, "unavailable": DeviceUnavailableError, "timeout": DeviceTimeoutError,
    "unsupported": UnsupportedActionError, "unknown_device": UnknownDeviceError,
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


def translate(device: Device, service: str, args: dict[str, Any], reported: dict[str, Any]) -> Change:
    """Map an HA service call on `device` to a twin change; UnsupportedActionError for anything else."""
    domain, service = device.domain, service.removeprefix(f"{device.domain}.")

    def cmd(name: str) -> Change:
        return Change(command=DeviceCommand(device_id=device.device_id, command=name))

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
    raise UnsupportedActionError(f"{device.name} ({domain}) cannot {service.replace('_', ' ')}")


def satisfied(expect: dict[str, list[Any]], values: dict[str, Any]) -> bool:
    """True when every expected property shows one of its accepted values."""
    return all(prop in values and any(values_match(values[prop], a) for a in accepted)
               for prop, accepted in expect.items())


@dataclass(slots=True)
class _Waiter:
    expect: dict[str, list[Any]]
    trace_id: str
    future: asyncio.Future[dict[str, Any]]
    edge_done: bool = False


class MqttEdgeCommander:
    """cloud.fleet.EdgeCommander through the twin sync; registers itself as the sync's listener."""

    def __init__(self, sync: TwinSync, store: TwinStore, bus: CloudBus, *, source: str = "cloud") -> None:
        self._sync = sync
        self._store = store
        self._bus = bus
        self._source = source
        self._waiters: dict[str, list[_Waiter]] = {}
        sync.add_listener(self)

    async def act(self, device: Device, service: str, args: dict[str, Any], *, trace_id: str,
                  timeout_s: float) -> dict[str, Any]:
        """Send the action to the device's edge; the reported state once it shows the change."""
        extra = {"trace_id": trace_id, "edge_id": device.edge_id, "device_id": device.device_id}
        if self._sync.edge_online(device.edge_id) is False:
            raise DeviceUnavailableError(f"edge {device.edge_id} of {device.name} is offline")
        reported = await self.state(device)
        change = translate(device, service, args, reported)
        waiter = _Waiter(change.expect, trace_id, asyncio.get_running_loop().create_future())
        self._waiters.setdefault(device.device_id, []).append(waiter)
        try:
            if change.command is not None:
                await self._sync.send_command(device.edge_id, change.command, trace_id=trace_id)
            else:
                await self._sync.update_desired(device.device_id, change.desired, trace_id=trace_id)
                if satisfied(change.expect, reported):
                    return reported
            log.info("device action sent", extra={**extra, "service": service})
            try:
                values = await asyncio.wait_for(asyncio.shield(waiter.future), timeout_s)
            except TimeoutError:
                if not waiter.edge_done:
                    raise DeviceTimeoutError(f"{device.name} did not confirm {service} within {timeout_s:g}s") from None
                values = {}  # the edge confirmed it; the cloud's copy of the twin lags or differs in units
            return values if change.expect and values else await self.state(device)
        except TransportError as exc:
            raise DeviceUnavailableError(f"cannot reach edge {device.edge_id}: {exc}") from None
        finally:
            self._forget(device.device_id, waiter)

    async def state(self, device: Device) -> dict[str, Any]:
        """The device's last reported values."""
        return {k: v.value for k, v in reported_of(await self._store.twin(device.device_id)).items()}

    async def send_utterance(self, edge_id: str, text: str, language: str | None, trace_id: str, *,
                             message_id: str | None = None) -> None:
        """Hand a natural-language command to an edge's pipeline (its `utterances` channel)."""
        payload: dict[str, Any] = {"text": text, "source": self._source}
        if language:
            payload["language"] = language
        envelope = Envelope(trace_id=trace_id, source=self._source, type="utterance", payload=payload,
                            **({"id": message_id} if message_id else {}))
        await self._bus.publish(edge_topic(edge_id, EdgeChannel.UTTERANCES), encode(envelope), qos=1)

    async def send_command(self, edge_id: str, text: str, *, language: str | None, trace_id: str,
                           command_id: str) -> dict[str, Any] | None:
        """cloud.edge_link.EdgeCommandSender: deliver the text; the edge's decision arrives on its own channel."""
        await self.send_utterance(edge_id, text, language, trace_id, message_id=command_id)
        return None

    # TwinListener
    def reported(self, device_id: str, values: dict[str, Any]) -> None:
        """Resolve waiters whose expectation the new reported values meet."""
        for waiter in self._waiters.get(device_id, []):
            if waiter.expect and satisfied(waiter.expect, values) and not waiter.future.done():
                waiter.future.set_result(values)

    def applied(self, edge_id: str, result: ApplyResult, trace_id: str) -> None:
        """Fail waiters on the edge's error; finish command waiters on its success."""
        for waiter in self._waiters.get(result.device_id, []):
            if waiter.trace_id != trace_id or waiter.future.done():
                continue
            if result.outcome != "done":
                error = _ERRORS.get(result.outcome, DeviceError)
                waiter.future.set_exception(error(result.detail or f"edge {edge_id}: {result.outcome}"))
            elif not waiter.expect:
                waiter.future.set_result({})
            else:
                waiter.edge_done = True

    def _forget(self, device_id: str, waiter: _Waiter) -> None:
        waiters = [w for w in self._waiters.get(device_id, []) if w is not waiter]
        if waiters:
            self._waiters[device_id] = waiters
        else:
            self._waiters.pop(device_id, None)
        if waiter.future.done() and not waiter.future.cancelled():
            waiter.future.exception()  # mark retrieved, so asyncio does not log it
