"""This edge's events for the cloud: breaker changes, behaviour alerts, plan notifications, through the outbox."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from edge.guard.monitor import Alert
from edge.ports import EventSink
from shared.sync import EdgeEvent

log = logging.getLogger(__name__)

#: Events from synchronous callbacks on their way into the outbox at once; past it they are logged only.
MAX_PENDING = 1000


class Events:
    """Logs each event and queues it for the cloud; synchronous callbacks may raise events too."""

    def __init__(self, send: EventSink, *, max_pending: int = MAX_PENDING) -> None:
        self._send = send
        self._max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()  # each ends once its event is in the outbox

    def breaker_changed(self, old: str, new: str) -> None:
        """The circuit breaker to the cloud went from `old` to `new` (a no-op when they are the same)."""
        if old != new:
            log.warning("cloud circuit breaker %s -> %s", old, new,
                        extra={"event": "cloud_breaker", "from": old, "to": new})
            self._spawn(EdgeEvent.CLOUD_BREAKER, {"from": old, "to": new})

    def alert(self, alert: Alert) -> None:
        """A behaviour-monitor alert."""
        log.warning("behaviour alert: %s", alert.reason, extra={"event": "alert", "rule": alert.rule,
                                                                  "trace_id": alert.trace_id})
        self._spawn(EdgeEvent.ALERT, alert.model_dump(mode="json"), alert.trace_id)

    async def notify(self, message: str, trace_id: str) -> None:
        """A plan's `notify` step run at the edge: a log line and an event for the cloud."""
        log.info("notify: %s", message, extra={"trace_id": trace_id, "event": "notify"})
        await self._send(EdgeEvent.NOTIFY, {"message": message}, trace_id)

    async def finish(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds) until the events raised so far are queued."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)

    def _spawn(self, kind: str, payload: dict[str, Any], trace_id: str | None = None) -> None:
        if len(self._tasks) >= self._max_pending:  # the outbox is stuck (a full disk): the log line must do
            log.error("event not sent: %d events waiting for the outbox already", len(self._tasks),
                      extra={"event": kind, "trace_id": trace_id})
            return
        task = asyncio.get_running_loop().create_task(self._send(kind, payload, trace_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
