"""EdgeCommander over the twin: a device action becomes a desired delta (or a momentary command) and is
confirmed when the device's reported twin shows it.

Twin properties use the names and units the devices report (HA MQTT conventions): `state`, `brightness`
(0-255, HA's default scale), `position` (0-100), `target_temperature`, `hvac_mode`, `volume` (0-1).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from cloud.bus import CloudBus
from cloud.fleet import Device
from cloud.twin_sync import TwinStore, TwinSync, reported_of, values_match
from shared.actions import Change
from shared.actions import translate as translate_action
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
from shared.sync import ApplyResult
from shared.topics import EdgeChannel, edge_topic

log = logging.getLogger(__name__)

_ERRORS: dict[str, type[DeviceError]] = {
    "rejected": DeviceRejectedError, "unavailable": DeviceUnavailableError, "timeout": DeviceTimeoutError,
    "unsupported": UnsupportedActionError, "unknown_device": UnknownDeviceError,
}


def translate(device: Device, service: str, args: dict[str, Any], reported: dict[str, Any]) -> Change:
    """Map an HA service call on `device` to a twin change; UnsupportedActionError for anything else."""
    return translate_action(device.domain, device.device_id, device.name, service, args, reported)


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
