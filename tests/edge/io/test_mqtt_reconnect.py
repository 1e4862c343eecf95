"""The paho bus across a dropped connection: a publish reported as unsent is not sent again behind its caller's back.

A scripted broker stands in for Mosquitto, which cannot be told to withhold its PUBACKs: the first connection takes
the publishes, acknowledges none and drops, as a broker that stops mid-burst does; later connections acknowledge.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from edge.config import MqttSettings
from edge.io.mqtt import PahoBus
from shared.errors import TransportError
from tests.cloud.twin_fakes import eventually

CONNECT, PUBLISH, SUBSCRIBE, PINGREQ, DISCONNECT = 0x10, 0x30, 0x80, 0xC0, 0xE0


@dataclass
class ScriptedBroker:
    """MQTT 3.1.1, just enough of it: connection 0 swallows `drop_after` publishes unacknowledged, then drops."""

    drop_after: int
    port: int = 0
    received: list[list[tuple[bool, bytes]]] = field(default_factory=list)  # per connection: (DUP flag, payload)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn, got = len(self.received), []
        self.received.append(got)
        try:
            while True:
                first = (await reader.readexactly(1))[0]
                size, shift = 0, 0
                while (byte := (await reader.readexactly(1))[0]) & 0x80:
                    size, shift = size | (byte & 0x7F) << shift, shift + 7
                body = await reader.readexactly(size | byte << shift)
                kind = first & 0xF0
                if kind == CONNECT:
                    writer.write(bytes([0x20, 2, 0, 0]))
                elif kind == SUBSCRIBE:
                    writer.write(bytes([0x90, 3, body[0], body[1], 1]))
                elif kind == PINGREQ:
                    writer.write(bytes([0xD0, 0]))
                elif kind == DISCONNECT:
                    return
                elif kind == PUBLISH:
                    end = 2 + int.from_bytes(body[:2], "big")
                    qos = first >> 1 & 3
                    got.append((bool(first & 0x08), body[end + 2 * bool(qos):]))
                    if conn == 0:
                        if len(got) == self.drop_after:
                            return  # the broker goes away with every PUBACK still owed
                    elif qos:
                        writer.write(bytes([0x40, 2]) + body[end:end + 2])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def scripted_broker(drop_after: int) -> AsyncIterator[ScriptedBroker]:
    broker = ScriptedBroker(drop_after)
    server = await asyncio.start_server(broker.serve, "127.0.0.1", 0)
    broker.port = server.sockets[0].getsockname()[1]
    try:
        yield broker
    finally:
        server.close()


async def test_publishes_failed_by_a_dropped_connection_are_not_resent_by_paho_after_the_reconnect() -> None:
    async with scripted_broker(drop_after=3) as broker:
        bus = PahoBus(MqttSettings(host="127.0.0.1", port=broker.port, reconnect_min_s=0.05, reconnect_max_s=0.1),
                      f"edge-reconnect-{random.getrandbits(32)}")
        await bus.start(timeout=10)
        try:
            results = await asyncio.gather(*(bus.publish("t", f"m{i}".encode()) for i in range(3)),
                                           return_exceptions=True)
            # the caller is told they are unsent: the outbox keeps them and sends them again after the reconnect
            assert all(isinstance(r, TransportError) for r in results), results
            assert [payload for _, payload in broker.received[0]] == [b"m0", b"m1", b"m2"]
            await eventually(lambda: bus.connected, what="the reconnect")
            await bus.publish("t", b"after")  # acknowledged: everything sent before it on this connection arrived
            # with paho also resending its in-flight copies (DUP set), every failed message would arrive twice
            assert broker.received[1] == [(False, b"after")]
        finally:
            await bus.stop()
