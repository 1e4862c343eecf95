"""The intent model's life at the edge: roll-out orders from the models channel, and hot reload from disk."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from edge.decision.model_stage import ModelStage
from edge.io.model_rollout import ModelRollout
from edge.ports import EventSink, Message
from shared.codec import decode, validate
from shared.envelope import Envelope
from shared.errors import PayloadError
from shared.rollout import ACTIVATED_EVENT, ORDER_TYPE, REJECTED_EVENT, ModelOrder

log = logging.getLogger(__name__)

#: Orders carried out or waiting at once (they run one at a time); past it an order is refused as a bad message.
MAX_PENDING_ORDERS = 8


class ModelChannel:
    """Carries out roll-out orders off the routing loop and tells the cloud how each ended."""

    def __init__(self, rollout: ModelRollout, stage: ModelStage, send_event: EventSink, *,
                 on_changed: Callable[[], Awaitable[None]]) -> None:
        self._rollout = rollout
        self._stage = stage
        self._send_event = send_event
        self._on_changed = on_changed  # a new model serves: metrics, and cache entries of the old one go
        self._tasks: set[asyncio.Task[None]] = set()

    async def order(self, message: Message) -> None:
        """Take an order message; it is acknowledged once carried out (a crash gets it again)."""
        if not message.payload:  # the cloud cleared its retained order
            message.ack()
            return
        envelope = decode(Envelope, message.payload)
        if envelope.type != ORDER_TYPE:
            raise PayloadError(f"models channel carries {ORDER_TYPE!r}, not {envelope.type!r}", field="type")
        order = validate(ModelOrder, envelope.payload)
        if len(self._tasks) >= MAX_PENDING_ORDERS:
            raise PayloadError(f"{len(self._tasks)} model orders pending already; order {envelope.id} refused")
        task = asyncio.get_running_loop().create_task(self._carry_out(order, envelope, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _carry_out(self, order: ModelOrder, envelope: Envelope, message: Message) -> None:
        try:
            result = await self._rollout.handle(order, envelope.id)
            if result is not None:
                if result.changed:
                    await self._on_changed()
                await self._send_event(REJECTED_EVENT if result.reason else ACTIVATED_EVENT,
                                       result.model_dump(mode="json"), envelope.trace_id)
        except Exception:  # the daemon stays up whatever one order does
            log.exception("model order failed", extra={"trace_id": envelope.trace_id, "order_id": envelope.id})
        finally:
            message.ack()

    async def watch(self, poll_s: float) -> None:
        """Hot reload: pick up a new or repaired model directory without a restart (until cancelled)."""
        while True:
            await asyncio.sleep(poll_s)
            if await asyncio.to_thread(self._stage.reload_if_changed):
                log.info("intent model active", extra={"version": self._stage.status().version})
                await self._on_changed()
