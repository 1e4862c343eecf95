"""The edge's paho bus against a real Mosquitto: order, acknowledgement after handling, and the inbound bound."""

from __future__ import annotations

import asyncio
import random

from edge.config import MqttSettings
from edge.io.mqtt import PahoBus
from tests.cloud.twin_fakes import eventually, mqtt_peer
from tests.conftest import BrokerInfo

TOPIC = "autoglm-test/bus/in"


async def test_a_slow_consumer_holds_the_network_thread_at_the_bound_and_loses_nothing(broker: BrokerInfo) -> None:
    bound, total = 10, 60
    bus = PahoBus(MqttSettings(host=broker.host, port=broker.port, inbound_queue=bound),
                  f"edge-bus-{random.getrandbits(32)}")
    await bus.subscribe(TOPIC)
    await bus.start(timeout=10)
    try:
        async with mqtt_peer(broker.host, broker.port, name="sender") as sender:
            for i in range(total):
                await sender.bus.publish(TOPIC, str(i).encode(), qos=1)
            # nobody reads yet: the queue fills to the bound and the network thread waits (the broker keeps the rest)
            await eventually(lambda: bus._queue.qsize() == bound, what="the queue at its bound")
            await asyncio.sleep(0.3)
            assert bus._queue.qsize() == bound
            got: list[int] = []
            async for message in bus.messages():
                assert bus._queue.qsize() <= bound
                got.append(int(message.payload))
                message.ack()
                if len(got) == total:
                    break
            assert got == list(range(total))
    finally:
        await bus.stop()


async def test_stop_returns_while_the_network_thread_waits_for_room(broker: BrokerInfo) -> None:
    bus = PahoBus(MqttSettings(host=broker.host, port=broker.port, inbound_queue=10),
                  f"edge-bus-{random.getrandbits(32)}")
    await bus.subscribe(TOPIC)
    await bus.start(timeout=10)
    async with mqtt_peer(broker.host, broker.port, name="sender") as sender:
        for i in range(30):
            await sender.bus.publish(TOPIC, str(i).encode(), qos=1)
        await eventually(lambda: bus._queue.qsize() == 10, what="the queue at its bound")
        await asyncio.wait_for(bus.stop(), 5)
