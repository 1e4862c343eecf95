"""The daemon with a full edge database: refused writes are logged naming the file and counted, nothing escapes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge.config import Safeguards, load_settings
from edge.daemon import EdgeDaemon
from edge.devices.entity import Entity
from edge.ports import Message
from shared.decision import Decision, Outcome
from shared.discovery import parse_discovery
from shared.errors import StorageError
from tests.edge.io.test_store import fill_to_limit

CONFIG = b'{"unique_id": "meter", "name": "Meter", "state_topic": "sim/meter/state"}'


async def full_daemon(tmp_path: Path) -> EdgeDaemon:
    (tmp_path / "no-model").mkdir()
    daemon = EdgeDaemon(load_settings(None, data_dir=tmp_path / "edge", model_dir=tmp_path / "no-model"))
    await daemon.store.open()
    config = parse_discovery("sensor", CONFIG)
    assert config is not None
    daemon.registry.put(Entity.from_config(config, "homeassistant/sensor/meter/config"))
    await daemon.store._call(lambda: fill_to_limit(daemon.store.db.conn))
    return daemon


def storage_errors(daemon: EdgeDaemon, what: str) -> float:
    return daemon.metrics.registry.get_sample_value("autoglm_edge_storage_errors_total", {"what": what}) or 0.0


async def test_a_decision_the_full_store_refuses_is_counted_and_logged(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    daemon = await full_daemon(tmp_path)
    decision = Decision(utterance_id="u", trace_id="t", edge_id="e", text="x" * 5000, language="en",
                        outcome=Outcome.DONE, reply="ok", latency_ms=1.0)
    with caplog.at_level(logging.ERROR):
        await daemon.recorder.record(decision)  # no broker: the publishes fail too, and are handled as before
    assert storage_errors(daemon, "decision") == 1
    assert any("edge.db is full" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    await daemon.store.close()


async def test_a_state_message_the_full_store_refuses_is_acknowledged_and_kept_in_memory(tmp_path: Path) -> None:
    daemon = await full_daemon(tmp_path)
    acked: list[bool] = []
    # a value of 9 kB needs pages the file may not have any more
    await daemon.handle(Message("sim/meter/state", b"y" * 9000, 1, False, lambda: acked.append(True)))
    assert acked == [True] and storage_errors(daemon, "message") == 1
    assert daemon.twins.values("meter") == {"value": "y" * 9000}
    await daemon.store.close()


async def test_negative_control_without_containment_a_refused_decision_record_fails_its_request(
        tmp_path: Path) -> None:
    (tmp_path / "no-model").mkdir()
    settings = load_settings(None, data_dir=tmp_path / "edge", model_dir=tmp_path / "no-model")
    daemon = EdgeDaemon(settings, safeguards=Safeguards(contain_errors=False))
    await daemon.store.open()
    await daemon.store._call(lambda: fill_to_limit(daemon.store.db.conn))
    decision = Decision(utterance_id="u", trace_id="t", edge_id="e", text="x" * 5000, language="en",
                        outcome=Outcome.DONE, reply="ok", latency_ms=1.0)
    with pytest.raises(StorageError):
        await daemon.recorder.record(decision)
    assert storage_errors(daemon, "decision") == 1  # counted all the same
    await daemon.store.close()
