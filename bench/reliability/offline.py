"""The edge offline and back: kill -9 while the outbox drains, an outage that overflows the outbox, stale commands.

Crash during drain: a real edge daemon (`procs.EdgeProcess`) builds a backlog in outbox.db while the cloud's
broker is down (device reports from a fake home on the local broker, decisions for utterances); then the cloud's
broker and the cloud's twin sync (cloud/twin_sync.py on its SQLite store, in this process) come up, and the edge is
killed with SIGKILL in the middle of draining, and restarted, again and again. Every decision the edge queued must
be in the cloud's audit log exactly once and every light's last reported value must be in the cloud's twin. The
negative control runs a twin sync without de-duplication by message id: re-sent messages are applied twice.

Overflowing outage: an edge daemon (in this process) with a small outbox bound gets many more device reports than
the bound while the cloud's broker is down; time is compressed (the reports of a 10-minute outage of a busy home
are made as fast as the edge takes them, not over 10 minutes). The overflow policy drops the oldest; afterwards
every reported version must either have reached the cloud or be counted in the edge's overflow report the cloud
audited: `unaccounted` = versions missing in the cloud beyond those reported dropped. The negative control's
outbox drops without keeping count (the policy as it was): the drops are invisible to the cloud.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.reliability.procs import EdgeProcess, Mosquitto
from bench.reliability.scenario import Scenario
from cloud.bus import BusMessage, BusSettings, MqttBus
from cloud.sqlite_store import SqliteStore
from cloud.twin_sync import TwinSync
from edge.config import load_settings
from edge.daemon import EdgeDaemon
from edge.outbox import DroppedReport, Outbox
from shared.topics import EdgeChannel, edge_topic

EDGE = "offline-edge"
LIGHTS = 4


class CountingSync(TwinSync):
    """The real twin sync, counting every envelope id it is handed (what arrived, before de-duplication)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: Counter[str] = Counter()

    async def handle(self, message: BusMessage) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            self.received[str(json.loads(message.payload)["id"])] += 1
        await super().handle(message)


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


class SilentOutbox(Outbox):
    """The negative control's outbox: drops the oldest beyond the bound and keeps no count for the cloud."""

    def dropped_report(self) -> DroppedReport | None:
        return None


class NoDedupSync(CountingSync):
    """The negative control's twin sync: every message is handled as if it were new."""

    def _first_time(self, message_id: str) -> bool:
        return True


class FakeHome:
    """Lights on the local broker: retained discovery configs, then brightness reports; and utterances."""

    def __init__(self, port: int) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"fake-home-{random.getrandbits(32)}")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.last: dict[str, int] = {}

    def announce(self, lights: int) -> None:
        for i in range(lights):
            config = {"unique_id": f"l{i}", "name": f"Light {i}", "schema": "json", "brightness": True,
                      "state_topic": f"dev/l{i}", "command_topic": f"dev/l{i}/set",
                      "device": {"identifiers": [f"l{i}"], "suggested_area": "Hall"}}
            self.client.publish(f"homeassistant/light/l{i}/config", json.dumps(config), qos=1, retain=True
                                ).wait_for_publish(5)

    def report(self, light: int, brightness: int) -> None:
        device = f"l{light}"
        self.client.publish(f"dev/{device}", json.dumps({"state": "ON", "brightness": brightness}), qos=1
                            ).wait_for_publish(5)
        self.last[device] = brightness

    def say(self, text: str) -> None:
        self.client.publish(edge_topic(EDGE, EdgeChannel.UTTERANCES), text.encode(), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def outbox_rows(path: Path) -> list[tuple[int, str, bytes]]:
    """(seq, topic, payload) of every message in an outbox file another process owns (read-only)."""
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return [(int(s), str(t), bytes(p)) for s, t, p in conn.execute("SELECT seq, topic, payload FROM outbox")]
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        conn.close()


def outbox_count(path: Path) -> int:
    """Messages waiting in an outbox file another process owns."""
    return table_count(path, "outbox")


def table_count(path: Path, table: str) -> int:
    """Rows of `table` in a SQLite file another process owns; 0 while there is no such file or table."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` every 10 ms; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


def edge_settings(data: Path, local: int, cloud: int, **uplink: Any) -> dict[str, Any]:
    """An edge on `local` with its uplink on `cloud`: no HTTP, no intent model, no decision cache."""
    (data / "no-model").mkdir(parents=True, exist_ok=True)
    return {"edge_id": EDGE, "data_dir": str(data), "model_dir": str(data / "no-model"), "confirm_timeout_s": 0.5,
            "mqtt": {"host": "127.0.0.1", "port": local}, "http": {"enabled": False}, "cache": {"enabled": False},
            "uplink": {"mqtt": {"host": "127.0.0.1", "port": cloud, "reconnect_min_s": 0.05, "reconnect_max_s": 0.3},
                       "heartbeat_s": 60.0, **uplink}}


@contextlib.asynccontextmanager
async def cloud_side(db: Path, port: int, *, dedup: bool = True,
                     kind: type[CountingSync] = CountingSync) -> AsyncIterator[tuple[CountingSync, SqliteStore]]:
    """The cloud's twin sync on its SQLite store and the cloud's broker, as `open_mqtt_link` runs it."""
    store = SqliteStore(db)
    await store.open()
    await store.upsert_edge(EDGE, site="home")
    bus = MqttBus(BusSettings(port=port, client_id=f"cloud-{random.getrandbits(32)}", reconnect_min_s=0.05,
                              reconnect_max_s=0.3))
    sync: CountingSync = (kind if dedup else NoDedupSync)(bus, store)
    await sync.start()
    await bus.start(10)
    task = asyncio.create_task(sync.run())
    try:
        yield sync, store
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await bus.stop()
        await store.close()


def audit_ids(db: Path, action: str) -> Counter[str]:
    """How often each edge message id was recorded in the cloud's audit log under `action`."""
    conn = sqlite3.connect(db, timeout=5)
    try:
        rows = conn.execute("SELECT detail FROM audit WHERE action = ?", (action,)).fetchall()
    finally:
        conn.close()
    return Counter(str(json.loads(detail).get("message_id")) for (detail,) in rows)


async def crash_during_drain(work: Path, *, kills: int, reports: int, utterances: int, seed: int = 0,
                             dedup: bool = True) -> dict[str, Any]:
    """Backlog while the cloud's broker is down, then `kills` SIGKILLs of the edge while it drains."""
    rng = random.Random(seed)
    local = Mosquitto(work / "local", persistence=False)
    cloud_broker = Mosquitto(work / "cloud-broker", persistence=False)
    outbox = work / "edge" / "outbox.db"
    edge = EdgeProcess(work / "edge", edge_settings(work / "edge", local.port, cloud_broker.port))
    local.start()
    home = await asyncio.to_thread(FakeHome, local.port)
    figures: dict[str, Any] = {"kills": kills, "dedup": dedup, "errors": 0}
    try:
        await asyncio.to_thread(home.announce, LIGHTS)
        edge.start()
        await until(lambda: table_count(work / "edge" / "edge.db", "devices") >= LIGHTS, 30, "discovery")
        ops = [("report", k) for k in range(reports)] + [("say", k) for k in range(utterances)]
        rng.shuffle(ops)
        for op, k in ops:  # reports keep their order per light: versions rise
            if op == "report":
                await asyncio.to_thread(home.report, k % LIGHTS, k // LIGHTS + 1)
            else:
                await asyncio.to_thread(home.say, f"play the saxophone in room {k}")  # nothing local can do it
        decisions: set[str] = set()

        def queued_decisions() -> bool:
            decisions.clear()
            decisions.update(str(json.loads(p)["id"]) for _, _, p in outbox_rows(outbox)
                             if json.loads(p)["type"] == "edge.decision")
            return len(decisions) >= utterances

        await until(queued_decisions, 60, f"{utterances} decisions in the outbox")
        await until(lambda: outbox_count(outbox) >= reports + utterances, 30, "every report in the outbox")
        figures["backlog"] = outbox_count(outbox)
        cloud_broker.start()
        async with cloud_side(work / "cloud.db", cloud_broker.port, dedup=dedup) as (sync, store):
            mid_drain = 0
            step = figures["backlog"] / (kills + 1)
            for k in range(kills):  # spread over the backlog, each at a random point of its stretch
                target = max(1, int(figures["backlog"] - step * (k + rng.uniform(0.5, 1.0))))
                await until(lambda t=target: outbox_count(outbox) <= t, 60, "the drain to move")
                edge.kill()
                mid_drain += outbox_count(outbox) > 0
                edge.start()
            figures["kills_mid_drain"] = mid_drain
            await until(lambda: outbox_count(outbox) == 0, 60, "the outbox to drain")
            await until(lambda: decisions <= set(audit_ids(work / "cloud.db", "edge.decision")), 30,
                        "every decision in the cloud")
            await asyncio.sleep(0.5)  # anything still in flight
            recorded = audit_ids(work / "cloud.db", "edge.decision")
            twins = {f"l{i}": await store.twin(f"l{i}") for i in range(LIGHTS)}
            received = sync.received
    finally:
        edge.kill()
        await asyncio.to_thread(home.close)
        cloud_broker.terminate()
        local.terminate()
    wrong_final = 0
    for device, last in home.last.items():
        record = twins.get(device)
        side = record.document.properties["brightness"].reported if record else None
        wrong_final += side is None or side.value != last
    redelivered = sum(n - 1 for n in received.values() if n > 1)
    return figures | {
        "restarts": edge.starts - 1, "queued_decisions": len(decisions),
        "decisions_lost": len(decisions - set(recorded)), "reports_lost": wrong_final,
        "lost": len(decisions - set(recorded)) + wrong_final,
        "redelivered": redelivered, "double_applied": sum(n - 1 for n in recorded.values() if n > 1)}


@contextlib.asynccontextmanager
async def edge_in_process(settings: dict[str, Any]) -> AsyncIterator[EdgeDaemon]:
    """The edge daemon (the real composition root) in this process, until the block ends."""
    daemon = EdgeDaemon(load_settings(None, **settings))
    await daemon.start(connect_timeout=10)
    task = asyncio.create_task(daemon.run())
    try:
        yield daemon
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await daemon.stop()


async def overflowing_outage(work: Path, *, reports: int, outbox_max: int, safeguard: bool = True) -> dict[str, Any]:
    """`reports` device reports while the cloud's broker is down and the outbox holds `outbox_max`; then recovery."""
    local = Mosquitto(work / "local", persistence=False)
    cloud_broker = Mosquitto(work / "cloud-broker", persistence=False)
    local.start()
    home = await asyncio.to_thread(FakeHome, local.port)
    settings = edge_settings(work / "edge", local.port, cloud_broker.port, outbox_max=outbox_max)
    figures: dict[str, Any] = {"reports": reports, "outbox_max": outbox_max, "safeguard": safeguard, "errors": 0}
    try:
        await asyncio.to_thread(home.announce, LIGHTS)
        async with edge_in_process(settings) as edge:
            assert edge.uplink.outbox is not None
            if not safeguard:  # the policy as it was: drop the oldest, tell nobody
                edge.uplink.outbox.close()
                edge.uplink.outbox = SilentOutbox(work / "edge" / "outbox.db", max_messages=outbox_max)
            outbox = edge.uplink.outbox
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
            async with cloud_side(work / "cloud.db", cloud_broker.port, kind=VersionSync) as (sync, _store):
                await until(lambda: edge.uplink_bus.connected, 30, "the uplink back")
                await until(lambda: len(outbox) == 0, 120, "the outbox to drain")
                await asyncio.sleep(0.5)
                assert isinstance(sync, VersionSync)
                received = set(sync.versions)
            reports_audited = [json.loads(d) for (d,) in sqlite3.connect(work / "cloud.db").execute(
                "SELECT detail FROM audit WHERE action = 'edge.outbox_overflow'")]
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
    Scenario("offline.crash_during_drain", "the edge is killed -9 while its outbox drains a backlog built during an "
             "outage, and restarted: every message reaches the cloud, none is applied twice",
             lambda d, full, seed: crash_during_drain(d, kills=10 if full else 3, reports=600 if full else 100,
                                                      utterances=1200 if full else 150, seed=seed),
             {"lost": "lost", "double_applied": "double_applied"}),
    Scenario("offline.crash_during_drain.no_dedup", "negative control: the same crashes, the cloud without "
             "de-duplication by message id", lambda d, full, seed: crash_during_drain(
                 d, kills=12, reports=50, utterances=150, seed=seed, dedup=False),
             {}, negative_control=True, loss_figure="double_applied"),
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
