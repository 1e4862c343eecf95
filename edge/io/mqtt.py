"""The edge's MQTT adapter: paho's network thread feeds a bounded asyncio queue of messages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import MqttSettings
from edge.io.backoff import Backoff
from edge.ports import Message
from shared.errors import TransportError

log = logging.getLogger(__name__)


def no_delay(_client: paho.Client, _userdata: Any, sock: Any) -> None:
    """Turn off Nagle's algorithm: small MQTT packets otherwise wait up to 40 ms for delayed ACKs."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class PahoBus:
    """Bus over paho-mqtt 2.x: reconnects with backoff and restores subscriptions on every connect."""

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        will: tuple[str, bytes] | None = None,
        birth: tuple[str, bytes] | None = None,
        on_connection_change: Callable[[bool], None] | None = None,
        resubscribe: bool = True,
        ack_after_commit: bool = True,
    ) -> None:
        """`resubscribe` and `ack_after_commit` are safeguards only a negative control switches off: without them the
        subscriptions are sent on the first connection only (a clean-session take-over loses them), and a QoS 1
        message is acknowledged on arrival (a crash before its commit loses it)."""
        self._settings = settings
        self._resubscribe = resubscribe
        self._ack_after_commit = ack_after_commit
        self._subscribed_once = False
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, protocol=paho.MQTTv311
        )
        self._client.manual_ack_set(True)
        # Capped exponential backoff with full jitter, so a fleet of gateways does not reconnect in step after a
        # broker restart; paho waits whatever delay is set before each retry (see `_arm_backoff`).
        self._backoff = Backoff(settings.reconnect_min_s, max(settings.reconnect_max_s, settings.reconnect_min_s))
        self._arm_backoff()
        self._client.max_queued_messages_set(10_000)
        if settings.username:
            self._client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            self._client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None,
                                 tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if will:
            self._client.will_set(will[0], will[1], qos=1, retain=True)
        self._birth = birth
        self._on_change = on_connection_change
        self._subscriptions: dict[str, int] = {}
        self._pending: dict[int, asyncio.Future[None]] = {}
        # The bound lives in `_room` (taken by the network thread, given back as messages leave the queue), so a
        # hand-over is one call_soon_threadsafe, not a round trip that parks the network thread on the event loop.
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._room = threading.Semaphore(settings.inbound_queue)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = False
        self._stopping = False
        self.reconnects = 0
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish
        self._client.on_socket_open = no_delay
        self._client.on_connect_fail = self._on_connect_fail

    @property
    def connected(self) -> bool:
        """True while the broker session is up."""
        return self._connected

    async def start(self, timeout: float | None = None) -> None:
        """Start connecting in the background; with `timeout`, wait for the first connection."""
        self._loop = asyncio.get_running_loop()
        try:
            self._client.connect_async(self._settings.host, self._settings.port, self._settings.keepalive)
        except (OSError, ValueError) as exc:
            raise TransportError(f"cannot connect to MQTT broker {self._settings.host}:{self._settings.port}: "
                                 f"{exc}") from None
        self._client.loop_start()
        if timeout is not None:
            deadline = self._loop.time() + timeout
            while not self._connected:
                if self._loop.time() > deadline:
                    raise TransportError(
                        f"MQTT broker {self._settings.host}:{self._settings.port} did not accept a connection "
                        f"within {timeout:.0f}s: is it running? (autoglm broker starts one)")
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Disconnect cleanly (no last will) and stop the network thread."""
        self._stopping = True
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        self._connected = False

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish; for QoS 1 wait for the broker's PUBACK. Raises TransportError when offline."""
        if not self._connected:
            raise TransportError(f"not connected to the MQTT broker; cannot publish to {topic}")
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise TransportError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
        if qos == 0 or info.is_published():
            return
        self._pending[info.mid] = future
        if info.is_published():  # the PUBACK raced the registration
            self._pending.pop(info.mid, None)
            return
        await future

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe now (when connected) and again after every reconnect."""
        self._subscriptions[topic_filter] = qos
        if self._connected:
            self._client.subscribe(topic_filter, qos)

    async def unsubscribe(self, topic_filter: str) -> None:
        """Forget a subscription."""
        if self._subscriptions.pop(topic_filter, None) is not None and self._connected:
            self._client.unsubscribe(topic_filter)

    async def messages(self) -> AsyncIterator[Message]:
        """Inbound messages in arrival order."""
        while True:
            message = await self._queue.get()
            self._room.release()
            yield message

    # paho callbacks: network thread
    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            log.warning("mqtt connect refused", extra={"reason": str(rc)})
            return
        # One resend authority, the caller's: right after this callback paho would send again, DUP set, every QoS 1
        # message of the dropped connection still owed a PUBACK, though `_fail_pending` told each sender it was not
        # sent, and the outbox then sends it again too: two copies of each. The outbox's copy is the one kept: it is
        # durable (paho's store dies with the process) and in order; and a direct publish that raised must not go out
        # later (a device command reported as failed would run). Here, not in on_disconnect: a publish racing the
        # drop can still land in paho's store after that callback, never after this one (`connected` is still false).
        if dropped := client.drop_out_messages():
            log.info("unacknowledged publishes of the dropped connection discarded; their senders were told",
                     extra={"discarded": len(dropped)})
        if self._resubscribe or not self._subscribed_once:
            for topic_filter, qos in self._subscriptions.items():
                client.subscribe(topic_filter, qos)
            self._subscribed_once = True
        if self._birth:
            client.publish(self._birth[0], self._birth[1], qos=1, retain=True)
        self._backoff.reset()
        self._set_connected(True)
        log.info("mqtt connected", extra={"host": self._settings.host, "port": self._settings.port})

    def _on_connect_fail(self, _c: paho.Client, _u: Any) -> None:
        delay = self._arm_backoff()
        log.warning("mqtt broker unreachable; retrying with backoff",
                    extra={"host": self._settings.host, "port": self._settings.port, "retry_in_s": round(delay, 2)})

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if self._connected and not self._stopping:
            self.reconnects += 1
            log.warning("mqtt disconnected", extra={"reason": str(rc)})
        self._arm_backoff()
        self._set_connected(False)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._fail_pending)

    def _fail_pending(self) -> None:
        """The connection dropped before these PUBACKs: their senders must not wait for ever (the outbox sends
        again after the reconnect, under the same message id; a direct publish reports the message as unsent)."""
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(TransportError("the MQTT connection dropped before the broker acknowledged"))

    def _arm_backoff(self) -> float:
        """Set paho's next retry delay from the jittered backoff (at least 50 ms)."""
        delay = max(0.05, self._backoff.next_delay())
        self._client.reconnect_delay_set(min_delay=delay, max_delay=delay)  # type: ignore[arg-type]  # floats work
        return delay

    def _set_connected(self, value: bool) -> None:
        self._connected = value
        if self._on_change and self._loop and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_change, value)

    def _on_message(self, client: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        mid, qos = msg.mid, msg.qos

        def ack() -> None:
            if qos > 0:
                client.ack(mid, qos)

        message = Message(msg.topic, bytes(msg.payload), qos, bool(msg.retain), ack, dup=bool(msg.dup), mid=mid)
        if not self._ack_after_commit:
            message.ack()  # before anything is committed: the daemon's own ack is then a no-op
        # Backpressure: when the queue is full the network thread waits, so the broker holds the rest.
        while not self._room.acquire(timeout=0.5):
            if loop.is_closed() or self._stopping:
                return
        try:
            loop.call_soon_threadsafe(self._queue.put_nowait, message)
        except RuntimeError:  # loop shutting down
            self._room.release()

    def _on_publish(self, _c: paho.Client, _u: Any, mid: int, _rc: ReasonCode, _p: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._resolve, mid)

    def _resolve(self, mid: int) -> None:
        future = self._pending.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)
