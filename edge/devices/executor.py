"""Sends device commands and waits for the device's reported state to confirm them."""

from __future__ import annotations

import asyncio
import logging
import time

from edge.devices.entity import Command, Entity, satisfied
from edge.devices.twins import Twins
from edge.ports import Bus
from shared.decision import DeviceAction, Outcome
from shared.errors import AutoGLMError, TransportError

log = logging.getLogger(__name__)

#: The outcome of a command that failed with an error of this code (anything else: ERROR).
_OUTCOMES = {"unsupported_action": Outcome.UNSUPPORTED, "unknown_device": Outcome.UNKNOWN_DEVICE,
             "device_unavailable": Outcome.UNAVAILABLE, "device_timeout": Outcome.TIMEOUT,
             "device_rejected": Outcome.REJECTED}

#: QoS of device commands (`/set`): at most once per publish; confirmation and retry make it at-least-once.
COMMAND_QOS = 0


class Executor:
    """One command to one device, confirmed or not within a deadline."""

    def __init__(self, bus: Bus, twins: Twins, *, timeout_s: float, slow_timeout_s: float) -> None:
        self._bus = bus
        self._twins = twins
        self._timeout = timeout_s
        self._slow_timeout = slow_timeout_s

    async def run(self, entity: Entity, command: Command, *, trace_id: str) -> DeviceAction:
        """Publish the command; outcome DONE only when the reported state confirms it."""
        start = time.perf_counter()
        rendered = entity.render(command)
        action = DeviceAction(
            device_id=entity.device_id, name=entity.name, domain=entity.domain,
            command={"name": command.name, "value": command.value} if command.value is not None
            else {"name": command.name},
            expect=rendered.expect,
        )
        extra = {"trace_id": trace_id, "device_id": entity.device_id}
        if entity.available is False:
            action.outcome, action.detail = Outcome.UNAVAILABLE, "offline"
            return action
        timeout = self._slow_timeout if rendered.slow else self._timeout
        waiter = self._twins.expect(entity.device_id, rendered.expect)
        try:
            for publish in rendered.publishes:
                # QoS 0, as Home Assistant commands devices: the reported state confirms a command end to end and
                # the sender retries what is not confirmed. QoS 1 would let a restarted broker redeliver a
                # persisted old command (DUP) after newer ones, turning a light back to a stale level.
                await self._bus.publish(publish.topic, publish.payload, qos=COMMAND_QOS)
            log.info("command sent", extra={**extra, "command": command.name})
            try:
                outcome, detail = await asyncio.wait_for(asyncio.shield(waiter), timeout)
            except TimeoutError:
                # A device that was already in the wanted state may not report again.
                if rendered.expect and satisfied(rendered.expect, self._twins.values(entity.device_id)):
                    outcome, detail = Outcome.DONE, "already in that state"
                else:
                    outcome, detail = Outcome.TIMEOUT, f"no confirmation within {timeout:g}s"
                    action.timeout_s = timeout
        except TransportError as exc:
            outcome, detail = Outcome.ERROR, str(exc)
        finally:
            self._twins.forget(entity.device_id, waiter)
        action.outcome, action.detail = outcome, detail
        action.latency_ms = round((time.perf_counter() - start) * 1000, 3)
        log.info("command finished", extra={**extra, "outcome": outcome.value, "latency_ms": action.latency_ms})
        return action


def outcome_of(exc: AutoGLMError) -> Outcome:
    """The outcome a command that raised `exc` had: the one mapping from errors to outcomes."""
    return _OUTCOMES.get(exc.code, Outcome.ERROR)
