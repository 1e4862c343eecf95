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

Reconnect races (`twins.reconnect_races`): desired deltas raced by stale full re-syncs (built before the delta, sent
after it), some across an edge restart, on the edge's real uplink, store and broker; a stale apply is a device
command older than one the device already got. The negative control's edge ignores versions.

Stale commands: commands the cloud's twin sync stamps with a (short) expiry wait in the edge's broker session while
it is away; those that expired must come back refused (`expired`, with a reason) and never reach a device, the
fresh ones must run. The negative control's edge runs commands however late.
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
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.reliability.procs import EdgeProcess, Mosquitto
from bench.reliability.scenario import Scenario
from cloud.bus import BusMessage, BusSettings, MqttBus
from cloud.sqlite_store import SqliteStore
from cloud.twin_sync import TwinSync
from edge.config import MqttSettings, load_settings
from edge.daemon import EdgeDaemon
from edge.devices.entity import Entity
from edge.devices.executor import Executor
from edge.devices.registry import Registry
from edge.devices.twins import Twins
from edge.io.mqtt import PahoBus
from edge.io.outbox import DroppedReport, Outbox
from edge.io.store import EdgeStore
from edge.uplink.twin_sync import Uplink
from shared.codec import encode
from shared.discovery import parse_discovery
from shared.envelope import Envelope, utcnow
from shared.errors import AutoGLMError
from shared.sync import ApplyResult, DeviceCommand, FullTwin, SyncType
from shared.topics import EdgeChannel, edge_topic
from shared.twin import TwinDelta, TwinValue

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
async def cloud_side(db: Path, port: int, *, dedup: bool = True, kind: type[CountingSync] = CountingSync,
                     client_id: str | None = None) -> AsyncIterator[tuple[CountingSync, SqliteStore]]:
    """The cloud's twin sync on its SQLite store and the cloud's broker, as `open_mqtt_link` runs it (a fixed
    `client_id` resumes that persistent session)."""
    store = SqliteStore(db)
    await store.open()
    await store.upsert_edge(EDGE, site="home")
    bus = MqttBus(BusSettings(port=port, client_id=client_id or f"cloud-{random.getrandbits(32)}",
                              reconnect_min_s=0.05, reconnect_max_s=0.3))
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


async def cloud_session(db: Path, broker: Mosquitto, client_id: str, **kwargs: Any) -> None:
    """Give the cloud its persistent session on `broker` (subscriptions kept in the broker's persistence), then stop
    the broker: as in production, the cloud's session outlives an outage, so what the edge sends between the broker's
    return and the cloud's reconnect is queued for it instead of finding no subscriber."""
    broker.start()
    try:
        async with cloud_side(db, broker.port, client_id=client_id, **kwargs):
            await asyncio.sleep(0.3)  # subscribed on connect
    finally:
        broker.terminate()


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
    cloud_broker = Mosquitto(work / "cloud-broker", persistence=True)
    cloud_id = "cloud-drain"
    await cloud_session(work / "cloud.db", cloud_broker, cloud_id, dedup=dedup)
    outbox = work / "edge" / "outbox.db"
    # Small drain batches: a whole backlog in one batch would leave no moment "mid-drain" to kill in; with
    # several batches, kills land both between batches and between a batch's PUBACKs and its commit.
    edge = EdgeProcess(work / "edge", edge_settings(work / "edge", local.port, cloud_broker.port, outbox_batch=4))
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
        async with cloud_side(work / "cloud.db", cloud_broker.port, dedup=dedup, client_id=cloud_id) as (sync, store):
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
            with contextlib.suppress(TimeoutError):  # one still missing then is counted as lost
                await until(lambda: decisions <= set(audit_ids(work / "cloud.db", "edge.decision")), 90,
                            "every decision in the cloud")
            figures["cloud_stats"] = dict(sync.stats)
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


SCENARIOS: tuple[Scenario, ...] = (
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


class EchoLights:
    """JSON lights on a broker that apply every command and report it back; notes the brightness commanded."""

    def __init__(self, port: int) -> None:
        self.commanded: dict[str, list[int]] = {}
        self.received: Counter[str] = Counter()  # every command, per device
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"echo-lights-{random.getrandbits(32)}")
        self.client.on_connect = lambda c, *_: c.subscribe("dev/+/set", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        device = message.topic.split("/")[1]
        command = json.loads(message.payload)
        self.received[device] += 1
        if "brightness" in command:
            self.commanded.setdefault(device, []).append(round(float(command["brightness"])))
        client.publish(f"dev/{device}", json.dumps({"state": "ON", **command}), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def light_entity(i: int) -> Entity:
    """Light `l{i}` as discovery announces it (JSON schema, brightness 0-255)."""
    config = parse_discovery("light", json.dumps({
        "unique_id": f"l{i}", "name": f"Light {i}", "schema": "json", "brightness": True, "state_topic": f"dev/l{i}",
        "command_topic": f"dev/l{i}/set", "device": {"identifiers": [f"l{i}"]}}))
    assert config is not None
    entity = Entity.from_config(config, f"homeassistant/light/l{i}/config")
    entity.available = True
    return entity


class _Forgetful(dict[tuple[str, str], int]):
    """The negative control's memory of accepted desired versions: remembers nothing."""

    def __setitem__(self, key: tuple[str, str], value: int) -> None:
        pass


class VersionBlindUplink(Uplink):
    """The negative control's uplink: applies every desired value, whatever its version."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._versions = _Forgetful()
        self._versions_loaded = True  # nothing to load into a memory that keeps nothing


class EdgeRig:
    """The edge's twin-sync side as the daemon wires it (store, registry of lights, twins, bus, executor, uplink).

    `restart()` replaces the uplink by a new one on the same store, as an edge restart does (its memory is gone,
    its database stays); `stop()` disconnects the bus, whose broker session keeps what the cloud sends meanwhile.
    """

    def __init__(self, work: Path, port: int, lights: int, client_id: str, kind: type[Uplink]) -> None:
        self.port, self.client_id, self.kind = port, client_id, kind
        self.store = EdgeStore(work / "edge.db")
        self.registry = Registry()
        for i in range(lights):
            self.registry.put(light_entity(i))
        self.twins = Twins(self.store)
        self.uplinks: list[Uplink] = []
        self._router: asyncio.Task[None] | None = None

    @property
    def uplink(self) -> Uplink:
        return self.uplinks[-1]

    async def start(self) -> None:
        """Open the store (once) and connect a fresh bus and uplink."""
        if self._router is None and not self.uplinks:
            await self.store.open()
            await self.twins.load()
        self.bus = PahoBus(MqttSettings(host="127.0.0.1", port=self.port, reconnect_min_s=0.05, reconnect_max_s=0.3),
                           self.client_id)
        self.executor = Executor(self.bus, self.twins, timeout_s=2.0, slow_timeout_s=2.0)
        self.restart()
        for topic in self.registry.topics():
            await self.bus.subscribe(topic)
        await self.uplink.start()
        self._router = asyncio.create_task(self._route())
        await self.bus.start(timeout=10)

    def restart(self) -> None:
        self.uplinks.append(self.kind(EDGE, self.bus, self.registry, self.twins, self.store, self.executor,
                                      heartbeat_s=600))

    async def _route(self) -> None:  # what EdgeDaemon._dispatch does for these topics
        async for message in self.bus.messages():
            if message.topic == self.uplink.desired_topic:
                with contextlib.suppress(AutoGLMError):
                    await self.uplink.handle(message.payload)
            elif bindings := self.registry.state_bindings(message.topic):
                for entity, binding in bindings:
                    changed = await self.twins.report(entity.device_id, entity.parse(binding, message.payload))
                    if changed:
                        await self.uplink.reported(entity.device_id, self.twins.values(entity.device_id), changed)
            message.ack()

    async def stop(self) -> None:
        """Let in-flight commands finish, then disconnect (the broker keeps the session)."""
        if self.uplinks:
            await self.uplink.stop()
        if self._router is not None:
            self._router.cancel()
            await asyncio.gather(self._router, return_exceptions=True)
        await self.bus.stop()

    async def close(self) -> None:
        await self.stop()
        await self.store.close()

    def stat(self, key: str) -> int:
        """A counter summed over every uplink this edge had."""
        return sum(u.stats[key] for u in self.uplinks)


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
    edge = EdgeRig(work, broker.port, lights, f"race-edge-{rng.getrandbits(32)}",
                   Uplink if safeguard else VersionBlindUplink)
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


SCENARIOS += (
    Scenario("twins.reconnect_races", "desired deltas raced by stale full re-syncs, across edge restarts: an older "
             "version never reaches a device after a newer one", lambda d, full, seed: reconnect_races(
                 d, steps=1000 if full else 200, seed=seed), {"version_regressions": "stale_applies",
                                                              "lost": "wrong_final"}),
    Scenario("twins.reconnect_races.version_blind", "negative control: an edge that applies desired values whatever "
             "their version", lambda d, full, seed: reconnect_races(d, steps=100, seed=seed, safeguard=False),
             {}, negative_control=True, loss_figure="stale_applies"),
)


class ExpiryBlindUplink(Uplink):
    """The negative control's uplink: runs every command, however late."""

    def _expired(self, command: DeviceCommand) -> bool:
        return False


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
    edge = EdgeRig(work, broker.port, 4, f"stale-edge-{rng.getrandbits(32)}",
                   Uplink if safeguard else ExpiryBlindUplink)
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


SCENARIOS += (
    Scenario("offline.stale_commands", "commands queued for the edge while it was away: the expired ones are refused "
             "with a reason and never reach a device, the fresh ones run (time compressed: a 1 s command expiry)",
             lambda d, full, seed: stale_commands(d, commands=400 if full else 80, seed=seed),
             {"version_regressions": "executed_stale", "lost": "fresh_not_done"}),
    Scenario("offline.stale_commands.expiry_blind", "negative control: an edge that runs every command however late",
             lambda d, full, seed: stale_commands(d, commands=40, seed=seed, safeguard=False),
             {}, negative_control=True, loss_figure="executed_stale"),
)
