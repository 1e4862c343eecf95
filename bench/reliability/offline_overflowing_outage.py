"""An outage that overflows the edge's outbox bound: every dropped report is counted and reported to the cloud.

An edge daemon (in this process) with a small outbox bound gets many more device reports than the bound while the
cloud's broker is down; time is compressed (the reports of a 10-minute outage of a busy home are made as fast as the
edge takes them, not over 10 minutes). The overflow policy drops the oldest; afterwards every reported version must
either have reached the cloud or be counted in the edge's overflow report the cloud audited: `unaccounted` = versions
missing in the cloud beyond those reported dropped. The negative control's outbox has its drop reports switched off
(`Outbox(report_drops=False)`, the policy as it was): it still drops and counts, but the cloud never hears of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.reliability.procs import Mosquitto, until
from bench.reliability.rig import (
    EDGE,
    LIGHTS,
    CountingSync,
    FakeHome,
    cloud_session,
    cloud_side,
    edge_in_process,
    edge_settings,
)
from bench.reliability.scenario import Scenario
from cloud.bus import BusMessage
from edge.config import Safeguards
from shared.topics import EdgeChannel, edge_topic


class VersionSync(CountingSync):
    """Also notes every reported brightness version per device that arrives (deltas and full documents)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.versions: set[tuple[str, int]] = set()

    async def handle(self, message: BusMessage) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            envelope = json.loads(message.payload)
            payload = envelope["payload"]
            deltas = [payload] if envelope["type"] == "twin.reported" else payload.get("twins", [])
            for delta in deltas:
                if "brightness" in delta.get("values", {}):
                    self.versions.add((delta["device_id"], int(delta["values"]["brightness"]["version"])))
        await super().handle(message)


def overflow_reports(db: Path) -> list[dict[str, Any]]:
    """The overflow reports the cloud has audited so far."""
    conn = sqlite3.connect(db)
    try:
        return [json.loads(d) for (d,) in conn.execute(
            "SELECT detail FROM audit WHERE action = 'edge.outbox_overflow'")]
    except sqlite3.OperationalError:  # the cloud has not created its tables yet
        return []
    finally:
        conn.close()


async def settled(progress: Callable[[], object], quiet_s: float, timeout: float) -> None:
    """Wait until `progress()` has not changed for `quiet_s` (at most `timeout`; then the figures tell)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last, since = progress(), loop.time()
    while loop.time() < deadline and loop.time() - since < quiet_s:
        await asyncio.sleep(0.1)
        now = progress()
        if now != last:
            last, since = now, loop.time()


async def overflowing_outage(work: Path, *, reports: int, outbox_max: int, safeguard: bool = True) -> dict[str, Any]:
    """`reports` device reports while the cloud's broker is down and the outbox holds `outbox_max`; then recovery."""
    local = Mosquitto(work / "local", persistence=False)
    cloud_broker = Mosquitto(work / "cloud-broker", persistence=True)
    cloud_id = "cloud-overflow"
    await cloud_session(work / "cloud.db", cloud_broker, cloud_id, kind=VersionSync)
    local.start()
    home = await asyncio.to_thread(FakeHome, local.port)
    settings = edge_settings(work / "edge", local.port, cloud_broker.port, outbox_max=outbox_max)
    figures: dict[str, Any] = {"reports": reports, "outbox_max": outbox_max, "safeguard": safeguard, "errors": 0}
    try:
        await asyncio.to_thread(home.announce, LIGHTS)
        async with edge_in_process(settings, Safeguards(report_drops=safeguard)) as edge:
            outbox = edge.uplink.outbox
            assert outbox is not None
            await until(lambda: len(edge.registry) >= LIGHTS, 30, "discovery")
            started = time.perf_counter()
            for k in range(reports):
                await asyncio.to_thread(home.report, k % LIGHTS, k // LIGHTS + 1)
            made = {(f"l{i}", v) for i in range(LIGHTS) for v in range(1, home.last[f"l{i}"] + 1)}
            await until(lambda: edge.twins.values("l0").get("brightness") == home.last["l0"]
                        and edge.twins.values(f"l{LIGHTS - 1}").get("brightness") == home.last[f"l{LIGHTS - 1}"],
                        60, "every report at the edge")
            await asyncio.sleep(0.3)
            figures["outage_s"] = round(time.perf_counter() - started, 1)
            figures["queued_at_recovery"] = len(outbox)
            figures["dropped_at_edge"] = outbox.dropped
            figures["dropped_metric"] = edge.metrics.registry.get_sample_value("autoglm_edge_outbox_dropped_total")
            cloud_broker.start()
            async with cloud_side(work / "cloud.db", cloud_broker.port, kind=VersionSync,
                                  client_id=cloud_id) as (sync, _store):
                await until(lambda: edge.uplink_bus.connected, 30, "the uplink back")
                await until(lambda: len(outbox) == 0, 120, "the outbox to drain")
                assert isinstance(sync, VersionSync)
                # the cloud applies what the broker holds at its own pace: wait until nothing new arrives for 2 s
                await settled(lambda: (len(sync.versions), len(overflow_reports(work / "cloud.db"))), 2.0, 60)
                received = set(sync.versions)
            reports_audited = overflow_reports(work / "cloud.db")
    finally:
        await asyncio.to_thread(home.close)
        cloud_broker.terminate()
        local.terminate()
    reported = sum(int(r.get("by_topic", {}).get(edge_topic(EDGE, EdgeChannel.TWIN_REPORTED), 0))
                   for r in reports_audited)
    missing = len(made - received)
    return figures | {"versions_made": len(made), "versions_in_cloud": len(made & received),
                      "missing_in_cloud": missing, "overflow_reports": len(reports_audited),
                      "reported_dropped": reported, "unaccounted": max(0, missing - reported),
                      # a message evicted while the drain was already sending it is counted though it arrived
                      "over_reported": max(0, reported - missing)}


SCENARIOS = (
    Scenario("offline.overflowing_outage", "an outage overflows the outbox bound (time compressed: the reports of a "
             "long outage made as fast as the edge takes them): every dropped report is counted and reported to the "
             "cloud after recovery", lambda d, full, seed: overflowing_outage(
                 d, reports=6000 if full else 600, outbox_max=2000 if full else 200),
             {"lost": "unaccounted"}),
    Scenario("offline.overflowing_outage.silent_drops", "negative control: the same outage, the outbox dropping "
             "without a count for the cloud", lambda d, full, seed: overflowing_outage(
                 d, reports=600, outbox_max=200, safeguard=False),
             {}, negative_control=True, loss_figure="unaccounted"),
)
