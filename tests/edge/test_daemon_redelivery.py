"""A redelivered state message that changes nothing is reported to the cloud again: the edge may have stopped
after committing the change and before queueing its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.config import load_settings
from edge.daemon import EdgeDaemon
from edge.entity import Entity
from edge.mqtt import Message
from shared.discovery import parse_discovery

CONFIG = b'{"unique_id": "meter", "name": "Meter", "state_topic": "sim/meter/state"}'


async def daemon_with_meter(tmp_path: Path) -> tuple[EdgeDaemon, list[tuple[str, dict[str, Any], dict[str, int]]]]:
    (tmp_path / "no-model").mkdir()
    daemon = EdgeDaemon(load_settings(None, data_dir=tmp_path / "edge", model_dir=tmp_path / "no-model"))
    await daemon.store.open()
    config = parse_discovery("sensor", CONFIG)
    assert config is not None
    daemon.registry.put(Entity.from_config(config, "homeassistant/sensor/meter/config"))
    sent: list[tuple[str, dict[str, Any], dict[str, int]]] = []

    async def reported(device_id: str, values: dict[str, Any], versions: dict[str, int]) -> None:
        sent.append((device_id, values, versions))

    daemon.uplink.reported = reported  # type: ignore[method-assign]  # records what would go to the outbox
    return daemon, sent


async def test_a_redelivered_unchanged_value_is_reported_again_under_its_committed_version(tmp_path: Path) -> None:
    daemon, sent = await daemon_with_meter(tmp_path)
    await daemon.handle(Message("sim/meter/state", b"41", 1, False))
    await daemon.handle(Message("sim/meter/state", b"42", 1, False))
    assert sent == [("meter", {"value": 41}, {"value": 1}), ("meter", {"value": 42}, {"value": 2})]
    await daemon.handle(Message("sim/meter/state", b"42", 1, False, dup=True))  # the broker sends it again
    assert sent[-1] == ("meter", {"value": 42}, {"value": 2}) and len(sent) == 3
    await daemon.store.close()


async def test_a_first_delivery_that_changes_nothing_is_not_reported(tmp_path: Path) -> None:
    daemon, sent = await daemon_with_meter(tmp_path)
    await daemon.handle(Message("sim/meter/state", b"42", 1, False))
    await daemon.handle(Message("sim/meter/state", b"42", 1, False))  # a device repeating itself: nothing new
    assert len(sent) == 1
    await daemon.store.close()
