"""The executor: device commands go out at QoS 0 and are confirmed by the device's reported state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from bench.reliability.rig_bridge import light_config
from edge.devices.entity import Command, Entity
from edge.devices.executor import COMMAND_QOS, Executor
from edge.devices.twins import Twins
from edge.io.store import EdgeStore
from edge.ports import Message
from shared.codec import validate
from shared.decision import Outcome
from shared.discovery import DiscoveryConfig


class RecordingBus:
    """Records publishes; the test plays the device."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, int]] = []

    @property
    def connected(self) -> bool:
        return True

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.published.append((topic, payload, qos))

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None: ...

    async def unsubscribe(self, topic_filter: str) -> None: ...

    async def messages(self) -> AsyncIterator[Message]:
        if False:
            yield


async def test_commands_go_out_at_qos_0_so_a_restarted_broker_cannot_replay_an_old_one(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "edge.db")
    await store.open()
    try:
        config = validate(DiscoveryConfig, {**light_config("l1"), "component": "light"})
        entity = Entity.from_config(config, "homeassistant/light/x/l1/config")
        bus = RecordingBus()
        executor = Executor(bus, Twins(store), timeout_s=0.2, slow_timeout_s=0.2)
        action = await executor.run(entity, Command("set_brightness", 50), trace_id="t1")
        assert [(t, q) for t, _p, q in bus.published] == [("rel-lights/l1/set", 0)] and COMMAND_QOS == 0
        assert action.outcome is Outcome.TIMEOUT  # nobody confirmed: the sender retries, not the broker
    finally:
        await store.close()
