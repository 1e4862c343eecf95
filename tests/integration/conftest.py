"""Fixtures that run the real parts together: broker, simulated home, edge daemon."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from autoglm.simhome import SimulatedHome
from edge.config import EdgeSettings, load_settings
from edge.daemon import EdgeDaemon
from edge.say import say
from shared.decision import Decision
from tests.conftest import BrokerInfo

EDGE_ID = "test-edge"


@dataclass
class Running:
    """A started edge with its simulated home."""

    broker: BrokerInfo
    home: SimulatedHome
    edge: EdgeDaemon
    settings: EdgeSettings

    async def say(self, text: str, **kwargs: Any) -> Decision:
        """Send an utterance over MQTT, as `autoglm edge say` does."""
        return await asyncio.to_thread(say, text, edge_id=EDGE_ID, host=self.broker.host, port=self.broker.port,
                                       timeout=kwargs.pop("timeout", 15.0), **kwargs)


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll until `predicate()` holds; fail the test with `what` otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def edge_settings(broker: BrokerInfo, data_dir: Path, **overrides: Any) -> EdgeSettings:
    """Settings for a test edge on the test broker, HTTP on a free port."""
    return load_settings(None, edge_id=EDGE_ID, data_dir=data_dir,
                         mqtt={"host": broker.host, "port": broker.port}, http={"port": 0},
                         confirm_timeout_s=overrides.pop("confirm_timeout_s", 1.5), **overrides)


@contextlib.asynccontextmanager
async def start_edge(settings: EdgeSettings) -> AsyncIterator[EdgeDaemon]:
    """Run an edge daemon for the duration of the block."""
    edge = EdgeDaemon(settings)
    await edge.start(connect_timeout=10)
    task = asyncio.create_task(edge.run())
    try:
        yield edge
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await edge.stop()


@pytest.fixture
async def running(broker: BrokerInfo, tmp_path: Path) -> AsyncIterator[Running]:
    """Simulated home + edge on a real broker, every device discovered and online."""
    home = SimulatedHome(broker.host, broker.port, sensor_interval=0.5)
    await asyncio.to_thread(home.start)
    settings = edge_settings(broker, tmp_path / "edge")
    try:
        async with start_edge(settings) as edge:
            await wait_for(lambda: len(edge.registry) >= len(home.device_ids)
                           and all(e.available for e in edge.registry.entities()), what="discovery")
            await wait_for(lambda: edge.http_port is not None, what="edge http")
            yield Running(broker, home, edge, settings)
    finally:
        await asyncio.to_thread(home.stop)


@contextlib.asynccontextmanager
async def serve_app(app: Any, port: int) -> AsyncIterator[None]:
    """A real uvicorn server for `app` on 127.0.0.1:`port`, on this loop, until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    try:
        await wait_for(lambda: server.started or task.done(), what="uvicorn")
        yield
    finally:
        server.should_exit = True
        await task
