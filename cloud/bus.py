"""The cloud's MQTT adapter on aiomqtt: one reconnecting session feeding a bounded inbox.

Overflow policy: the inbox holds `queue_size` messages; while it is full the reader stops taking from
aiomqtt's own queue (also bounded at `queue_size`), and aiomqtt drops what no longer fits. Drops are
counted in `dropped`. aiomqtt acknowledges QoS 1 on receipt, so the twin sync repairs any loss with a
full re-sync; delivery stays at-least-once from the edges' outboxes, never exactly-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiomqtt
from pydantic import BaseModel, Field

from shared.errors import TransportError

log = logging.getLogger(__name__)


class BusSettings(BaseModel):
    """The broker the edges' uplinks reach (Mosquitto, an EMQX cluster, a bridge)."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    client_id: str = Field(default="autoglm-cloud", min_length=1, max_length=128,
                           description="stable, so the broker keeps QoS 1 messages while the cloud restarts")
    keepalive: int = Field(default=30, ge=5, le=3600)
    tls: bool = False
    ca_file: Path | None = None
    queue_size: int = Field(default=10_000, ge=1, description="inbound messages buffered before dropping")
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0, description="longest wait for a PUBACK or SUBACK")


@dataclass(frozen=True, slots=True)
class BusMessage:
    """One inbound message."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


class CloudBus(Protocol):
    """What the cloud needs from a broker connection."""

    @property
    def connected(self) -> bool: ...

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None: ...

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None: ...

    def messages(self) -> AsyncIterator[BusMessage]: ...


def backoff_delay(attempt: int, low: float, high: float, rng: random.Random) -> float:
    """Capped exponential backoff with jitter: uniformly in [cap/2, cap], cap = min(high, low * 2**attempt)."""
    cap = min(high, low * 2 ** min(attempt, 32))
    return rng.uniform(cap / 2, cap)


class MqttBus:
    """CloudBus over aiomqtt; `await start()` connects (and keeps reconnecting) until `await stop()`."""

    def __init__(self, settings: BusSettings, *, will: tuple[str, bytes] | None = None,
                 on_connection_change: Callable[[bool], None] | None = None, rng: random.Random | None = None) -> None:
        self._settings = settings
        self._will = aiomqtt.Will(will[0], will[1], qos=1, retain=True) if will else None
        self._on_change = on_connection_change
        self._rng = rng or random.Random()
        self._inbox: asyncio.Queue[BusMessage] = asyncio.Queue(settings.queue_size)
        self._subscriptions: dict[str, int] = {}
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.unsubscribed = 0  # messages on topics no filter of ours matches (some brokers send them anyway)
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        """True while the broker session is up."""
        return self._client is not None and self._connected.is_set()

    async def start(self, timeout: float | None = None) -> None:
        """Run the connection loop in the background; with `timeout`, wait for the first connection."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="cloud-mqtt")
        if timeout is not None:
            try:
                await asyncio.wait_for(self._connected.wait(), timeout)
            except TimeoutError:
                raise TransportError(f"MQTT broker {self._settings.host}:{self._settings.port} did not accept a "
                                     f"connection within {timeout:g}s: is it running?") from None

    async def stop(self) -> None:
        """Disconnect and stop reconnecting."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        """Connect, subscribe, pump messages; on any loss reconnect after a capped, jittered backoff."""
        attempt = 0
        while True:
            try:
                async with self._make_client() as client:
                    attempt = 0
                    for topic_filter, qos in list(self._subscriptions.items()):
                        await client.subscribe(topic_filter, qos, timeout=self._settings.timeout_s)
                    self._client = client
                    self._set_connected(True)
                    log.info("cloud mqtt connected", extra={"host": self._settings.host, "port": self._settings.port})
                    async for message in client.messages:
                        if not any(message.topic.matches(f) for f in self._subscriptions):
                            self.unsubscribed += 1  # the embedded amqtt broker delivers beyond the filters
                            continue
                        await self._inbox.put(BusMessage(str(message.topic), _payload(message.payload),
                                                         message.qos, bool(message.retain)))
            except aiomqtt.MqttError as exc:
                log.warning("cloud mqtt connection lost; reconnecting", extra={"reason": str(exc), "attempt": attempt})
            except Exception:  # the loop outlives any one session's surprise; the reason goes to the log
                log.exception("cloud mqtt session failed; reconnecting", extra={"attempt": attempt})
            finally:
                was_connected = self._client is not None
                self._client = None
                self._set_connected(False)
            if was_connected:
                self.reconnects += 1
            await asyncio.sleep(backoff_delay(attempt, self._settings.reconnect_min_s,
                                              self._settings.reconnect_max_s, self._rng))
            attempt += 1

    def _make_client(self) -> aiomqtt.Client:
        s = self._settings
        tls = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None) if s.tls else None
        return aiomqtt.Client(s.host, s.port, username=s.username, password=s.password, identifier=s.client_id,
                              will=self._will, clean_session=False, keepalive=s.keepalive, timeout=s.timeout_s,
                              tls_context=tls, max_queued_incoming_messages=s.queue_size,
                              queue_type=self._counting_queue())

    def _counting_queue(self) -> type[asyncio.Queue[aiomqtt.Message]]:
        bus = self

        class CountingQueue(asyncio.Queue[aiomqtt.Message]):
            def put_nowait(self, item: aiomqtt.Message) -> None:
                try:
                    super().put_nowait(item)
                except asyncio.QueueFull:
                    bus.dropped += 1
                    raise

        return CountingQueue

    def _set_connected(self, value: bool) -> None:
        changed = value != self._connected.is_set()
        if value:
            self._connected.set()
        else:
            self._connected.clear()
        if changed and self._on_change is not None:
            self._on_change(value)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish; for QoS 1 wait for the PUBACK. Raises TransportError when offline or on timeout."""
        client = self._client
        if client is None:
            raise TransportError(f"not connected to the MQTT broker; cannot publish to {topic}")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=self._settings.timeout_s)
        except aiomqtt.MqttError as exc:
            raise TransportError(f"publish to {topic} failed: {exc}") from None

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe now (when connected) and again after every reconnect."""
        self._subscriptions[topic_filter] = qos
        client = self._client
        if client is not None:
            try:
                await client.subscribe(topic_filter, qos, timeout=self._settings.timeout_s)
            except aiomqtt.MqttError as exc:
                raise TransportError(f"subscribe to {topic_filter} failed: {exc}") from None

    async def messages(self) -> AsyncIterator[BusMessage]:
        """Inbound messages in arrival order, across reconnects."""
        while True:
            yield await self._inbox.get()


def _payload(value: object) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return b"" if value is None else str(value).encode()
