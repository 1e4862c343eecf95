"""Reconnect races: desired deltas raced by stale full re-syncs (built before the delta, sent after it), some across
an edge restart, on the edge's real uplink, store and broker (`rig.EdgeRig`).

A stale apply is a device command older than one the device already got. The negative control's uplink has its
version check switched off (`Uplink(check_versions=False)`): it applies desired values whatever their version.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.reliability.procs import Mosquitto, until
from bench.reliability.rig import EchoLights, EdgeRig
from bench.reliability.scenario import Scenario
from shared.codec import encode
from shared.envelope import Envelope
from shared.sync import FullTwin, SyncType
from shared.twin import TwinDelta, TwinValue


async def reconnect_races(work: Path, *, steps: int, lights: int = 4, seed: int = 0,
                          safeguard: bool = True) -> dict[str, Any]:
    """Desired deltas raced by stale full documents (built before the delta, sent after it), across edge restarts.

    Each step sends light `l` its next desired brightness (value = version) as a delta; half the steps then send a
    full desired document with an older version of that light (a re-sync built before the delta), a fifth of those
    after an edge restart in between (a new Uplink on the same store: what the edge keeps across a restart).
    A stale apply is a command to the device with a lower value (so an older version) than one it already got.
    """
    rng = random.Random(seed)
    broker = Mosquitto(work / "broker", persistence=False)
    broker.start()
    edge = EdgeRig(work, broker.port, lights, f"race-edge-{rng.getrandbits(32)}", check_versions=safeguard)
    echo = await asyncio.to_thread(EchoLights, broker.port)
    cloud = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"race-cloud-{rng.getrandbits(32)}")
    cloud.connect("127.0.0.1", broker.port)
    cloud.loop_start()
    await edge.start()

    def send(kind: str, payload: dict[str, Any]) -> None:
        envelope = Envelope(source="cloud", type=kind, payload=payload)
        cloud.publish(edge.uplink.desired_topic, encode(envelope), qos=1).wait_for_publish(5)

    def delta(device: str, version: int) -> TwinDelta:
        return TwinDelta(device_id=device, side="desired",
                         values={"brightness": TwinValue(value=version, version=version)})

    versions = dict.fromkeys((f"l{i}" for i in range(lights)), 0)
    figures: dict[str, Any] = {"steps": steps, "safeguard": safeguard, "errors": 0, "stale_fulls": 0, "restarts": 0}
    try:
        for _ in range(steps):
            device = rng.choice(list(versions))
            versions[device] = version = versions[device] % 250 + 1 if versions[device] < 250 else 250
            await asyncio.to_thread(send, SyncType.DESIRED, delta(device, version).model_dump(mode="json"))
            if version > 1 and rng.random() < 0.5:
                old = version - rng.randint(1, min(3, version - 1))
                await until(lambda d=device, v=version: v in echo.commanded.get(d, []), 10, "the delta applied")
                if rng.random() < 0.2:  # the edge restarts between the delta and the stale re-sync
                    await asyncio.sleep(0.02)  # the executor's confirmation
                    edge.restart()
                    figures["restarts"] += 1
                full = FullTwin(side="desired", twins=[delta(device, old)])
                await asyncio.to_thread(send, SyncType.DESIRED_FULL, full.model_dump(mode="json"))
                figures["stale_fulls"] += 1
        with contextlib.suppress(TimeoutError):  # a stale apply may have been last: wrong_final counts it
            await until(lambda: all(echo.commanded.get(d, [0])[-1] == v for d, v in versions.items() if v), 3,
                        "the last values at the devices")
        await asyncio.sleep(0.3)
        figures["refused_superseded"] = edge.stat("superseded")
    finally:
        await edge.close()
        cloud.disconnect()
        cloud.loop_stop()
        await asyncio.to_thread(echo.close)
        broker.terminate()
    stale = 0
    for values in echo.commanded.values():
        highest = 0
        for value in values:
            stale += value < highest
            highest = max(highest, value)
    wrong_final = sum(1 for d, v in versions.items() if v and echo.commanded.get(d, [0])[-1] != v)
    return figures | {"commands": sum(len(v) for v in echo.commanded.values()), "stale_applies": stale,
                      "wrong_final": wrong_final}


SCENARIOS = (
    Scenario("twins.reconnect_races", "desired deltas raced by stale full re-syncs, across edge restarts: an older "
             "version never reaches a device after a newer one", lambda d, full, seed: reconnect_races(
                 d, steps=1000 if full else 200, seed=seed), {"version_regressions": "stale_applies",
                                                              "lost": "wrong_final"}),
    Scenario("twins.reconnect_races.version_blind", "negative control: an edge that applies desired values whatever "
             "their version", lambda d, full, seed: reconnect_races(d, steps=100, seed=seed, safeguard=False),
             {}, negative_control=True, loss_figure="stale_applies"),
)
