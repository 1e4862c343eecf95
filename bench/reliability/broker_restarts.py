"""The broker stopped (SIGTERM) and killed (SIGKILL) while QoS 1 commands flow through cloud, broker and edge.

The rig (bench/reliability/rig_bridge.py): a Mosquitto broker (persistence on), simulated lights behind one paho
client that record every command they get on `/set`, an edge daemon (`autoglm edge run` in a child process), and the
cloud side as the product runs it. The sender acts as the cloud must: retry every command until the device's reported
twin confirms it (at-least-once); the edge de-duplicates by envelope id and desired version, and sends nothing a device
already shows. Lost = a command its light never got; double = a light got one command twice. The negative control
sends each command once and moves on.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench.reliability.procs import EdgeProcess, Mosquitto, keep_user
from bench.reliability.rig_bridge import Lights, cloud_side, command, edge_settings, level
from bench.reliability.scenario import Scenario


async def restarts(tmp: Path, commands: int, terms: int, kills: int, *, lights: int = 10, retry: bool = True,
                   seed: int = 0) -> dict[str, Any]:
    """`commands` QoS 1 commands through cloud, broker and edge while the broker is stopped `terms` times and
    killed `kills` times, spread evenly over the run; what each light received against what was sent."""
    names = [f"l{i}" for i in range(lights)]
    per_light = -(-commands // lights)
    if per_light > 100:
        raise ValueError("at most 100 commands per light (brightness_pct 1..100 tells them apart)")
    broker = Mosquitto(tmp / "broker", extra=keep_user())
    broker.start()
    devices = Lights(broker.port, names)
    edge = EdgeProcess(tmp / "edge", edge_settings(tmp / "edge" / "data", broker.port))
    faults = ["term"] * terms + ["kill"] * kills
    order = [faults[(i * 7 + seed) % len(faults)] for i in range(len(faults))] if faults else []
    done = 0
    confirmed = attempts_total = 0
    started = time.monotonic()
    try:
        devices.start()
        edge.start()
        async with cloud_side(tmp / "cloud.db", broker.port, names) as cloud:
            plan = [(names[i % lights], 1 + i // lights) for i in range(commands)]  # (light, pct)
            give_up = time.monotonic() + 60 + commands * 0.5

            async def worker(light: str) -> None:
                nonlocal done, confirmed, attempts_total
                for name, pct in plan:
                    if name != light:
                        continue
                    ok, attempts = await command(cloud, light, pct, retry=retry, timeout_s=6.0, give_up=give_up)
                    confirmed += ok
                    attempts_total += attempts
                    done += 1

            async def chaos() -> None:
                for k, fault in enumerate(order):
                    while done < commands * (k + 1) // (len(order) + 1):  # noqa: ASYNC110 - polls a counter
                        await asyncio.sleep(0.01)
                    await asyncio.to_thread(broker.terminate if fault == "term" else broker.kill)
                    await asyncio.sleep(0.5)  # down for a moment: senders meet a closed port
                    await asyncio.to_thread(broker.start)

            await asyncio.gather(chaos(), *(worker(n) for n in names))
            await asyncio.sleep(1.0)  # a last redelivery would show as a double
            edge_alive = edge.running
    finally:
        edge.terminate()
        await asyncio.to_thread(devices.stop)
        broker.terminate()
    sent = {(name, level(pct)) for name, pct in plan}
    lost = sum(1 for key in sent if devices.received[key] == 0)
    double = sum(n - 1 for key, n in devices.received.items() if key in sent and n > 1)
    return {"commands": commands, "lights": lights, "sigterm": terms, "sigkill": kills, "retry": retry,
            "confirmed": confirmed, "attempts": attempts_total, "lost": lost, "double_applied": double,
            "edge_restarts": edge.starts - 1, "errors": int(not edge_alive),
            "seconds": round(time.monotonic() - started, 1)}


SCENARIOS = (
    Scenario("broker.restarts", "the broker stopped (SIGTERM) and killed (SIGKILL) 3 times each during 1,000 QoS 1 "
             "commands (reduced: once each during 150): 0 lost, 0 executed twice",
             lambda d, full, seed: restarts(d / "restarts", 1000 if full else 150, 3 if full else 1,
                                            3 if full else 1, seed=seed),
             {"lost": "lost", "double_applied": "double_applied"}),
    Scenario("broker.restarts.no_retry", "negative control: a sender that trusts the first PUBACK and never retries",
             lambda d, full, seed: restarts(d / "restarts-nc", 150, 1, 1, retry=False, seed=seed),
             {}, negative_control=True, loss_figure="lost"),
)
