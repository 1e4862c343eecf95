"""`autoglm trace`: a timeline from the edge's decision records; clear errors for missing data."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from autoglm.cli import app
from edge.io.store import EdgeStore
from shared.decision import Decision, DecisionSource, DeviceAction, Outcome

runner = CliRunner()


def seed(path: Path) -> None:
    async def main() -> None:
        store = EdgeStore(path)
        await store.open()
        await store.add_decision(Decision(utterance_id="u1", trace_id="trace-1", edge_id="e", text="lights on",
                                          language="en", source=DecisionSource.TEMPLATE, intent="HassTurnOn",
                                          outcome=Outcome.DONE, reply="Done.", latency_ms=3.0,
                                          actions=[DeviceAction(device_id="lamp", name="Lamp", domain="light",
                                                                command={"name": "turn_on"},
                                                                outcome=Outcome.DONE)]))
        await store.close()
    asyncio.run(main())


def test_trace_prints_the_edge_timeline(tmp_path: Path) -> None:
    seed(tmp_path / "edge.db")
    result = runner.invoke(app, ["trace", "trace-1", "--edge-db", str(tmp_path / "edge.db"), "--no-cloud"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert "decision done" in lines[0] and "intent=HassTurnOn" in lines[0]
    assert "device done" in lines[1] and "device_id=lamp" in lines[1]


def test_unknown_trace_and_missing_database_are_clear_errors(tmp_path: Path) -> None:
    seed(tmp_path / "edge.db")
    unknown = runner.invoke(app, ["trace", "nope", "--edge-db", str(tmp_path / "edge.db"), "--no-cloud"])
    assert unknown.exit_code == 3 and "no records of trace nope" in unknown.output
    missing = runner.invoke(app, ["trace", "trace-1", "--edge-db", str(tmp_path / "none.db"), "--no-cloud"])
    assert missing.exit_code == 1 and "no edge database" in missing.output
