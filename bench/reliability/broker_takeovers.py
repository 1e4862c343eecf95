"""Forced session take-overs: another client connects with the edge's client id (clean session), the edge is kicked
and reconnects; a command through the cloud after each proves its subscriptions came back.

The edge daemon runs in this process on the bridge rig (bench/reliability/rig_bridge.py). The negative control's
buses have their re-subscription switched off (`PahoBus(resubscribe=False)`): they subscribe on the first connection
only, as a client that trusts the broker to keep its session would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.reliability.procs import Mosquitto, keep_user
from bench.reliability.rig_bridge import Lights, cloud_side, command, edge_settings
from bench.reliability.scenario import Scenario
from edge.config import Safeguards, load_settings
from edge.daemon import EdgeDaemon


def take_over(port: int, client_id: str) -> bool:
    """Connect with someone else's client id and a clean session (the broker kicks the holder), then leave."""
    intruder = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    try:
        intruder.connect("127.0.0.1", port, 30)
        intruder.loop_start()
        deadline = time.monotonic() + 5
        while not intruder.is_connected() and time.monotonic() < deadline:
            time.sleep(0.01)
        return intruder.is_connected()
    finally:
        intruder.disconnect()
        intruder.loop_stop()


async def takeovers(tmp: Path, count: int, *, lights: int = 4, safeguard: bool = True) -> dict[str, Any]:
    """`count` forced take-overs, alternating the edge's local and uplink client ids; after each, one command
    through the cloud must be confirmed (it needs the uplink's desired topic and the local state topics)."""
    names = [f"l{i}" for i in range(lights)]
    broker = Mosquitto(tmp / "broker", extra=keep_user())
    broker.start()
    devices = Lights(broker.port, names)
    settings = load_settings(None, **edge_settings(tmp / "edge", broker.port))
    edge = EdgeDaemon(settings, safeguards=Safeguards(resubscribe=safeguard))
    kicked = handled = failures = 0
    started = time.monotonic()
    task: asyncio.Task[None] | None = None
    try:
        devices.start()
        await edge.start(connect_timeout=10)
        task = asyncio.create_task(edge.run())
        async with cloud_side(tmp / "cloud.db", broker.port, names) as cloud:
            for i in range(count):
                bus, client_id = ((edge.bus, settings.client_id) if i % 2 == 0
                                  else (edge.uplink_bus, settings.uplink_client_id))
                before = bus.reconnects
                if not await asyncio.to_thread(take_over, broker.port, client_id):
                    failures += 1
                    continue
                deadline = time.monotonic() + 10
                while (bus.reconnects == before or not bus.connected) and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                kicked += bus.reconnects > before
                await asyncio.sleep(0.2)  # the uplink's re-sync after the reconnect settles
                ok, _ = await command(cloud, names[i % lights], 1 + i // lights % 100, retry=False,
                                      timeout_s=5.0, give_up=0)
                handled += ok
                failures += not ok
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await edge.stop()
        await asyncio.to_thread(devices.stop)
        broker.terminate()
    return {"takeovers": count, "safeguard": safeguard, "kicked": kicked, "handled": handled,
            "failures": failures, "seconds": round(time.monotonic() - started, 1)}


SCENARIOS = (
    Scenario("broker.takeovers", "20 forced session take-overs of the edge's client ids (reduced: 6): its "
             "subscriptions come back each time, a command through the cloud is handled after each",
             lambda d, full, seed: takeovers(d / "takeovers", 20 if full else 6),
             {"lost": "failures"}),
    Scenario("broker.takeovers.subscribe_once", "negative control: an edge bus that subscribes on its first "
             "connection only", lambda d, full, seed: takeovers(d / "takeovers-nc", 2, safeguard=False),
             {}, negative_control=True, loss_figure="failures"),
)
