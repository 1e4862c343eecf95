"""Every decision kept: counted, stored in `edge.db`, answered on the decisions channel, sent to the cloud."""

from __future__ import annotations

import logging
from collections.abc import Callable

from edge.ports import Bus, DecisionStore, EventSink
from shared.codec import encode
from shared.decision import Decision
from shared.envelope import Envelope
from shared.errors import AutoGLMError, StorageError
from shared.sync import EdgeEvent
from shared.topics import EdgeChannel, edge_topic

log = logging.getLogger(__name__)



class DecisionRecorder:
    """Records each decision once: metrics, the local record, the answer to the asker, the cloud's copy."""

    def __init__(self, edge_id: str, store: DecisionStore, bus: Bus, send_event: EventSink, *,
                 on_decision: Callable[[Decision], None] = lambda _d: None,
                 on_storage_error: Callable[[StorageError, str], None] = lambda _e, _t: None,
                 contain_storage_errors: bool = True) -> None:
        """`contain_storage_errors` off (a negative control) makes a refused record fail its request."""
        self._edge_id = edge_id
        self._store = store
        self._bus = bus
        self._send_event = send_event
        self._on_decision = on_decision  # metrics
        self._on_storage_error = on_storage_error  # (the error, the decision's trace id)
        self._contain = contain_storage_errors
        self._topic = edge_topic(edge_id, EdgeChannel.DECISIONS)

    async def record(self, decision: Decision) -> None:
        """Keep `decision`; the answer goes out once the local record is kept, before the cloud's copy."""
        self._on_decision(decision)
        try:
            await self._store.add_decision(decision)
        except StorageError as exc:  # the answer and the command matter more than the local record of them
            self._on_storage_error(exc, decision.trace_id)
            if not self._contain:
                raise
        record = decision.model_dump(mode="json")
        envelope = Envelope(trace_id=decision.trace_id, source=f"edge:{self._edge_id}", type="decision",
                            payload=record)
        # The cloud's copy's outbox commit (an fsync) is bookkeeping the user need not wait for: the answer goes
        # first. The utterance is acknowledged only after both.
        try:
            await self._bus.publish(self._topic, encode(envelope), qos=1)
        except AutoGLMError as exc:
            log.warning("decision not published", extra={"trace_id": decision.trace_id, "error": str(exc)})
        # the cloud's copy goes through the outbox: it survives an outage and an edge restart
        await self._send_event(EdgeEvent.DECISION, record, decision.trace_id)
        source = decision.source.value if decision.source else "none"
        log.info("decision", extra={"trace_id": decision.trace_id, "edge_id": self._edge_id,
                                    "outcome": decision.outcome.value, "source": source,
                                    "latency_ms": decision.latency_ms, "reply": decision.reply})
