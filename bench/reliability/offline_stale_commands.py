"""Stale commands: commands the cloud's twin sync stamps with a (short) expiry wait in the edge's broker session while
it is away; those that expired must come back refused (`expired`, with a reason) and never reach a device, the fresh
ones must run (time compressed: a 1 s expiry).

The negative control's uplink has its expiry check switched off (`Uplink(check_expiry=False)`): it runs commands
however late.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.reliability.procs import Mosquitto, until
from bench.reliability.rig import EDGE, EchoLights, EdgeRig
from bench.reliability.scenario import Scenario
from cloud.bus import BusSettings, MqttBus
from cloud.sqlite_store import SqliteStore
from cloud.twin_sync import TwinSync
from shared.envelope import utcnow
from shared.sync import ApplyResult, DeviceCommand


class Results:
    """The cloud's listener: every ApplyResult an edge sent, by trace id."""

    def __init__(self) -> None:
        self.by_trace: dict[str, ApplyResult] = {}

    def reported(self, device_id: str, values: dict[str, Any]) -> None:
        pass

    def applied(self, edge_id: str, result: ApplyResult, trace_id: str) -> None:
        self.by_trace[trace_id] = result


async def stale_commands(work: Path, *, commands: int, ttl_s: float = 1.0, seed: int = 0,
                         safeguard: bool = True) -> dict[str, Any]:
    """Commands the cloud sends while the edge is away, half of them outliving their expiry before it is back.

    The cloud's twin sync stamps each command with `expires_at` (`command_ttl_s` = `ttl_s`, short so the outage is
    short: time compressed). Stale commands go to lights l0 and l1, fresh ones (sent just before the edge comes
    back) to l2 and l3; the edge's broker session holds them all. Every stale one must come back refused with an
    `expired` result and never reach its light; every fresh one must run.
    """
    rng = random.Random(seed)
    broker = Mosquitto(work / "broker", persistence=False)
    broker.start()
    edge = EdgeRig(work, broker.port, 4, f"stale-edge-{rng.getrandbits(32)}", check_expiry=safeguard)
    echo = await asyncio.to_thread(EchoLights, broker.port)
    results = Results()
    store = SqliteStore(work / "cloud.db")
    await store.open()
    await store.upsert_edge(EDGE, site="home")
    bus = MqttBus(BusSettings(port=broker.port, client_id=f"cloud-{rng.getrandbits(32)}"))
    sync = TwinSync(bus, store, command_ttl_s=ttl_s)
    sync.add_listener(results)
    await sync.start()
    await bus.start(10)
    task = asyncio.create_task(sync.run())
    figures: dict[str, Any] = {"commands": commands, "ttl_s": ttl_s, "safeguard": safeguard, "errors": 0}
    try:
        await edge.start()  # the edge's session and subscriptions exist: the broker keeps what comes next
        await edge.stop()
        stale, fresh = [f"stale-{k}" for k in range(commands // 2)], [f"fresh-{k}" for k in range(commands // 2)]
        for k, trace in enumerate(stale):
            await sync.send_command(EDGE, DeviceCommand(device_id=f"l{k % 2}", command=rng.choice(
                ["turn_on", "turn_off"])), trace_id=trace)
        await asyncio.sleep(ttl_s * 1.5)  # the edge is still away when they expire
        for k, trace in enumerate(fresh):
            await sync.send_command(EDGE, DeviceCommand(device_id=f"l{2 + k % 2}", command=rng.choice(
                ["turn_on", "turn_off"]), expires_at=utcnow() + timedelta(seconds=60)), trace_id=trace)
        await edge.start()  # back: the broker delivers the session's queue
        await until(lambda: len(results.by_trace) >= commands, 30, "a result for every command")
        await asyncio.sleep(0.3)
    finally:
        await edge.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.stop()
        await store.close()
        await asyncio.to_thread(echo.close)
        broker.terminate()
    outcome = {trace: r.outcome for trace, r in results.by_trace.items()}
    reasons = [r.detail for t, r in results.by_trace.items() if t in stale and r.outcome == "expired"]
    return figures | {
        "stale_sent": len(stale), "fresh_sent": len(fresh),
        "refused_expired": sum(outcome.get(t) == "expired" for t in stale),
        "refused_without_reason": sum(1 for r in reasons if not r),
        "executed_stale": sum(outcome.get(t) not in (None, "expired") for t in stale),
        "stale_at_devices": echo.received["l0"] + echo.received["l1"],
        "fresh_done": sum(outcome.get(t) == "done" for t in fresh),
        "fresh_not_done": sum(outcome.get(t) != "done" for t in fresh)}


SCENARIOS = (
    Scenario("offline.stale_commands", "commands queued for the edge while it was away: the expired ones are refused "
             "with a reason and never reach a device, the fresh ones run (time compressed: a 1 s command expiry)",
             lambda d, full, seed: stale_commands(d, commands=400 if full else 80, seed=seed),
             {"version_regressions": "executed_stale", "lost": "fresh_not_done"}),
    Scenario("offline.stale_commands.expiry_blind", "negative control: an edge that runs every command however late",
             lambda d, full, seed: stale_commands(d, commands=40, seed=seed, safeguard=False),
             {}, negative_control=True, loss_figure="executed_stale"),
)
