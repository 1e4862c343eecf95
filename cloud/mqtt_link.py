"""The cloud's MQTT side for the app's lifetime: broker connection, twin sync, the edge commander, plan executor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cloud.bus import BusSettings, MqttBus
from cloud.commander import MqttEdgeCommander
from cloud.planner.executor import Executor
from cloud.store import Store
from cloud.twin_sync import TwinSync

log = logging.getLogger(__name__)


class AuditNotifier:
    """`notify` steps: a log line and an audit entry operators read (`GET /v1/audit?action=plan.notify`)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def notify(self, message: str, *, trace_id: str) -> None:
        """Deliver one message."""
        log.warning("plan notification", extra={"trace_id": trace_id, "notification": message})
        await self._store.record(actor="planner", action="plan.notify", target="operators", trace_id=trace_id,
                                 detail={"message": message})


@dataclass(slots=True)
class MqttLink:
    """What the API needs from the MQTT side."""

    bus: MqttBus
    store: Store  # also the audit sink
    sync: TwinSync
    commander: MqttEdgeCommander
    notifier: AuditNotifier
    step_timeout_s: float

    def executor(self) -> Executor:
        """A plan executor over the edges' command/twin path."""
        return Executor(self.commander, self.store, self.notifier, step_timeout_s=self.step_timeout_s)


@contextlib.asynccontextmanager
async def open_mqtt_link(settings: BusSettings, store: Store, *, step_timeout_s: float = 30.0,
                         connect_timeout_s: float = 10.0) -> AsyncIterator[MqttLink]:
    """Connect, subscribe and run the twin sync until the context exits. Raises TransportError when unreachable."""
    bus = MqttBus(settings)
    sync = TwinSync(bus, store)
    commander = MqttEdgeCommander(sync, store, bus)
    await sync.start()  # subscriptions are remembered and made on every (re)connect
    task: asyncio.Task[None] | None = None
    try:
        await bus.start(connect_timeout_s)
        task = asyncio.create_task(sync.run(), name="twin-sync")
        log.info("twin sync running", extra={"broker": f"{settings.host}:{settings.port}"})
        yield MqttLink(bus, store, sync, commander, AuditNotifier(store), step_timeout_s)
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await bus.stop()
