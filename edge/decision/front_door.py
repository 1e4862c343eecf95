"""Where requests come in: utterances over MQTT, confirmations over HTTP, requests queued while the cloud was away.

Each request goes through the gate and the pipeline and is recorded before its message is acknowledged. At most
`max_concurrent` requests run at once and `max_waiting` more wait for a slot; past that an utterance is answered
"busy" at once (recorded and acknowledged like any other). The router never waits for a slot: device state
messages, which running requests wait for, must keep flowing.
"""

from __future__ import annotations

import asyncio
import logging

from edge.decision.fallback import Fallback
from edge.decision.gate import Gate
from edge.decision.pipeline import Pipeline
from edge.decision.recorder import DecisionRecorder
from edge.decision.replies import render
from edge.guard.confirmations import Confirmations
from edge.ports import Message
from shared.codec import parse_json, validate
from shared.decision import Decision, Outcome, Utterance
from shared.envelope import Envelope
from shared.errors import AutoGLMError, PayloadError

log = logging.getLogger(__name__)


def parse_utterance(payload: bytes) -> Utterance:
    """An utterance from JSON, an envelope carrying one, or a satellite's plain UTF-8 text."""
    data = parse_json(payload) if payload.lstrip()[:1] == b"{" else None
    if data is None:  # a satellite may send plain text
        try:
            text = payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise PayloadError("utterance is not valid UTF-8") from None
        return validate(Utterance, {"text": text, "source": "mqtt"})
    if isinstance(data, dict) and "payload" in data and "type" in data:
        envelope = validate(Envelope, data)
        return validate(Utterance, {**envelope.payload, "trace_id": envelope.trace_id})
    return validate(Utterance, data)


class FrontDoor:
    """Runs requests through the gate and the pipeline, at most `max_concurrent` at once, and records each."""

    def __init__(self, gate: Gate, pipeline: Pipeline, recorder: DecisionRecorder, *,
                 confirmations: Confirmations, max_concurrent: int, max_waiting: int) -> None:
        self._gate = gate
        self._pipeline = pipeline
        self._recorder = recorder
        self._confirmations = confirmations
        self._slots = asyncio.Semaphore(max_concurrent)
        self._max_tasks = max_concurrent + max_waiting
        self._tasks: set[asyncio.Task[None]] = set()  # running or waiting for a slot: at most _max_tasks

    async def utterance(self, message: Message) -> None:
        """Take an utterance message; it runs in the background once a slot is free (PayloadError if malformed)."""
        utterance = parse_utterance(message.payload)
        if len(self._tasks) >= self._max_tasks:
            log.warning("utterance shed: too many requests waiting", extra={"trace_id": utterance.trace_id,
                                                                          "waiting": len(self._tasks)})
            reply = render(utterance.language or "en", "busy")
            await self._recorder.record(self._gate.refusal(utterance, Outcome.BUSY, reply))
            message.ack()
            return
        task = asyncio.get_running_loop().create_task(self._run(utterance, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, utterance: Utterance, message: Message) -> None:
        async with self._slots:
            await self._recorder.record(await self._gate.decide(utterance, self._pipeline.handle))
            message.ack()

    async def confirm(self, token: str) -> Decision:
        """Run a held request confirmed (`POST /v1/confirmations/{token}`); ConfirmationError for a bad token."""
        held = self._confirmations.redeem(token)
        async with self._slots:
            decision = await self._gate.decide_redeemed(held, self._pipeline.handle)
            await self._recorder.record(decision)
        return decision

    async def drain_cloud_queue(self, fallback: Fallback, every_s: float) -> None:
        """Run requests queued while the cloud was away, in order, once it answers again (until cancelled)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                for utterance, answer in await fallback.drain():
                    decision = self._gate.refusal(utterance, answer.outcome, answer.reply)
                    decision.source, decision.plan_id = answer.source, answer.plan_id
                    await self._recorder.record(decision)
            except AutoGLMError as exc:
                log.warning("cloud queue not drained", extra={"error": str(exc)})

    @property
    def tasks(self) -> set[asyncio.Task[None]]:
        """The requests running or waiting for a slot now (a copy)."""
        return set(self._tasks)

    async def finish(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds) for the requests in flight."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)
