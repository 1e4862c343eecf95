"""Edge storage under `kill -9`: no acknowledged QoS 1 update lost, no database file damaged.

Simulated meters (announced by retained discovery configs) send QoS 1 state updates to a real Mosquitto
(persistence on) while a killer thread `kill -9`s the edge daemon's process at random moments and starts it again.
The n-th update of a meter carries the value n, so the edge must give it reported version n: one version that holds
another value means an update was skipped or applied twice. The edge acknowledges a QoS 1 message only after the twin
change is committed, and every committed change goes through the uplink outbox onto the edge's `twin/reported` topic
(the local broker here), where a collector with a persistent session records every (device, version, value). An
acknowledged update is lost when its value never shows up there. After every kill, before the next start,
`PRAGMA integrity_check` runs on every database file of the edge. The negative control runs the same edge with its
buses' `ack_after_commit` switched off (bench/reliability/early_ack_edge.py): messages acknowledged on arrival.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.reliability import early_ack_edge
from bench.reliability.procs import DB_FILES, EdgeProcess, Mosquitto, integrity, wait_until
from bench.reliability.scenario import Scenario
from shared.topics import EdgeChannel, edge_topic

EDGE_ID = "crash-edge"
NODE = "crashsim"
METERS = 4
#: The twin property a meter reports.
PROP = "value"
#: Seconds from a (re)start to the next kill, drawn uniformly; the daemon needs about 2 s to import and connect.
KILL_GAP_S = (0.2, 3.0)
#: The negative control's updates, all sent in its first second: more than the edge works through before the first
#: kill (about 1,000 a second here), so the first kill always finds acknowledged updates still queued in memory.
NC_UPDATES = 5_000


@dataclass(frozen=True)
class SimDevice:
    """One simulated meter: its discovery topic and config, its state topic, and the payload of its n-th update."""

    unique_id: str
    config: dict[str, Any]

    @property
    def discovery_topic(self) -> str:
        return f"homeassistant/sensor/{NODE}/{self.unique_id}/config"

    @property
    def state_topic(self) -> str:
        return str(self.config["state_topic"])

    def payload(self, n: int) -> bytes:
        """The n-th update carries the value n (as JSON when the meter reads its value through a template)."""
        return json.dumps({"reading": n}).encode() if "value_template" in self.config else str(n).encode()


def sim_devices() -> list[SimDevice]:
    """Plain numeric meters and one JSON meter read through a value template, as Home Assistant announces them."""
    out = []
    for i in range(METERS):
        uid = f"{NODE}_meter_{i}"
        config: dict[str, Any] = {"unique_id": uid, "name": f"Meter {i}", "state_topic": f"{NODE}/{uid}/state",
                                  "device": {"identifiers": [uid], "name": f"Meter {i}", "suggested_area": "Lab"}}
        if i == METERS - 1:
            config["value_template"] = "{{ value_json.reading }}"
        out.append(SimDevice(uid, config))
    return out


def client(client_id: str, port: int, *, clean: bool = True) -> paho.Client:
    """A connected paho client with its network loop running."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean, protocol=paho.MQTTv311)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    return c


class ReportedLog:
    """Every (device, version) -> values of the meters' property seen on the edge's twin/reported topic."""

    def __init__(self, port: int) -> None:
        self.seen: dict[tuple[str, int], list[Any]] = {}
        self.bad = 0
        self._lock = threading.Lock()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{EDGE_ID}-reported-log",
                                   clean_session=False, protocol=paho.MQTTv311)
        self._client.on_message = self._on_message
        self._client.on_connect = lambda c, *_: c.subscribe(edge_topic(EDGE_ID, EdgeChannel.TWIN_REPORTED), 1)
        self._client.connect("127.0.0.1", port, 30)
        self._client.loop_start()

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            envelope = json.loads(msg.payload)
            body = envelope["payload"]
            deltas = body.get("twins", []) if "twins" in body else ([body] if "values" in body else [])
            with self._lock:
                for delta in deltas:
                    if (tv := delta["values"].get(PROP)) is not None:
                        self.seen.setdefault((delta["device_id"], int(tv["version"])), []).append(tv["value"])
        except (ValueError, KeyError, TypeError, AttributeError):
            self.bad += 1

    def latest(self, device_id: str) -> int:
        """The highest version of a device seen so far."""
        with self._lock:
            return max((v for d, v in self.seen if d == device_id), default=0)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@dataclass
class KillRun:
    """What the killer and the publisher count while they run."""

    kills: int = 0
    crashes: int = 0
    checks: int = 0
    corrupt: list[str] = field(default_factory=list)
    acked: Counter[str] = field(default_factory=Counter)  # device -> updates the broker acknowledged
    errors: list[str] = field(default_factory=list)


def twin_versions(db: Path, devices: list[SimDevice]) -> dict[str, int]:
    """The edge's committed reported version of each device's counted property (0 when none)."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        out = {}
        for d in devices:
            row = conn.execute("SELECT reported_version FROM twin WHERE device_id = ? AND prop = ?",
                               (d.unique_id, PROP)).fetchone()
            out[d.unique_id] = int(row[0]) if row else 0
        return out
    except sqlite3.OperationalError:  # the edge has not created its tables yet
        return {d.unique_id: 0 for d in devices}
    finally:
        conn.close()


def publish_updates(port: int, devices: list[SimDevice], updates: int, duration: float, rng: random.Random,
                    run: KillRun) -> None:
    """`updates` QoS 1 updates, round robin over the devices, in bursts of random size spread over `duration` s."""
    pub = client(f"{NODE}-devices", port)
    try:
        start = time.monotonic()
        burst_end = 0
        for i in range(updates):
            if i == burst_end:  # a burst at full speed builds a backlog the edge works through while it is killed
                ahead = start + duration * i / updates - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
                burst_end = i + rng.randint(1, 300)
            device = devices[i % len(devices)]
            n = run.acked[device.unique_id] + 1
            info = pub.publish(device.state_topic, device.payload(n), qos=1)
            info.wait_for_publish(30)
            if not info.is_published():
                run.errors.append(f"update {i} not acknowledged by the broker")
                return
            run.acked[device.unique_id] = n
    finally:
        pub.disconnect()
        pub.loop_stop()


def check_files(data_dir: Path, run: KillRun) -> None:
    for name in DB_FILES:
        if (data_dir / name).exists():
            run.checks += 1
            verdict = integrity(data_dir / name)
            if verdict != "ok":
                run.corrupt.append(f"{name}: {verdict}")


def kill_loop(edge: EdgeProcess, data_dir: Path, kills: int, gap: tuple[float, float], rng: random.Random,
              run: KillRun) -> None:
    """`kills` times: wait a random moment (start-up included), kill -9, check every database file, start again."""
    for _ in range(kills):
        time.sleep(rng.uniform(*gap))
        if not edge.running:
            run.crashes += 1
        edge.kill()
        run.kills += 1
        check_files(data_dir, run)
        edge.start()


async def kill9(root: Path, updates: int, kills: int, seed: int, *, safeguard: bool = True,
                duration: float | None = None, gap: tuple[float, float] = KILL_GAP_S) -> dict[str, Any]:
    """`updates` QoS 1 device updates while the edge is killed `kills` times; counts what the edge lost.

    Updates go on for `duration` seconds (default: as long as the kills), kills come `gap` seconds apart.
    """
    return await asyncio.to_thread(_kill9, root, updates, kills, seed, safeguard, duration, gap)


def _kill9(root: Path, updates: int, kills: int, seed: int, safeguard: bool, duration: float | None,
           gap: tuple[float, float]) -> dict[str, Any]:
    started = time.monotonic()
    rng = random.Random(seed)
    devices = sim_devices()
    data_dir = root / "edge"
    model_dir = root / "no-model"  # template stage only: the intent model plays no part here and slows start-up
    model_dir.mkdir(parents=True, exist_ok=True)
    if duration is None:  # updates go on for as long as the kills do
        duration = kills * sum(gap) / 2
    run = KillRun()
    with Mosquitto(root / "broker") as broker:
        setup = client(f"{NODE}-setup", broker.port)
        for d in devices:
            setup.publish(d.discovery_topic, json.dumps(d.config), qos=1, retain=True).wait_for_publish(10)
        setup.disconnect()
        setup.loop_stop()
        reported = ReportedLog(broker.port)
        settings = {"edge_id": EDGE_ID, "data_dir": str(data_dir), "model_dir": str(model_dir),
                    "http": {"enabled": False},
                    "mqtt": {"host": "127.0.0.1", "port": broker.port, "reconnect_min_s": 0.05,
                             "reconnect_max_s": 0.5}}
        edge = EdgeProcess(root / "proc", settings, entry="autoglm.cli" if safeguard else early_ack_edge.ENTRY)
        edge.start()
        try:
            # the edge's persistent session must hold the state subscriptions before the first update
            wait_until(lambda: _subscribed(data_dir, devices), 60, "the edge to learn the devices")
            time.sleep(1.0)
            publisher = threading.Thread(target=publish_updates,
                                         args=(broker.port, devices, updates, duration, random.Random(seed + 1), run))
            publisher.start()
            kill_loop(edge, data_dir, kills, gap, rng, run)
            publisher.join()
            last = dict(run.acked)
            try:  # every acknowledged update committed and reported (the negative control never gets there)
                wait_until(lambda: all(reported.latest(d.unique_id) >= last[d.unique_id] for d in devices),
                           60 if safeguard else 3, "the edge to report every update")
            except TimeoutError:
                if safeguard:
                    run.errors.append("the edge did not report every update within 60 s of the last kill")
            if not edge.running:
                run.crashes += 1
        finally:
            edge.terminate()
            reported.close()
        check_files(data_dir, run)
    versions = twin_versions(data_dir / "edge.db", devices)
    lost = misplaced = duplicates = 0
    for d in devices:
        values = {(v, value) for (device, v), seen in reported.seen.items() if device == d.unique_id
                  for value in seen}
        lost += len(set(range(1, run.acked[d.unique_id] + 1)) - {int(value) for _v, value in values})
        misplaced += sum(1 for v, value in values if value != v)  # a version holding another update's value
        duplicates += sum(len(seen) - 1 for (device, _v), seen in reported.seen.items() if device == d.unique_id)
    return {"updates": updates, "acknowledged": sum(run.acked.values()), "kills": run.kills, "lost": lost,
            "misnumbered": misplaced, "duplicates_seen": duplicates,
            "twin_behind": sum(max(0, run.acked[k] - v) for k, v in versions.items()),
            "corrupt_db": len(run.corrupt), "integrity_checks": run.checks, "crashes": run.crashes,
            "errors": len(run.errors) + reported.bad, "safeguard": safeguard,
            "seconds": round(time.monotonic() - started, 1),
            **({"first_problem": (run.errors + run.corrupt)[0]} if run.errors or run.corrupt else {})}


def _subscribed(data_dir: Path, devices: list[SimDevice]) -> bool:
    """The edge has stored every device (it subscribes to a device's state topic right after)."""
    db = data_dir / "edge.db"
    if not db.exists():
        return False
    conn = sqlite3.connect(db, timeout=30)
    try:
        ids = {r[0] for r in conn.execute("SELECT device_id FROM devices")}
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
    return all(d.unique_id in ids for d in devices)


SCENARIOS = (
    Scenario("crash.kill9", "the edge is killed with kill -9 at random moments during QoS 1 device updates: no "
             "acknowledged update is lost, every database file passes integrity_check after every kill",
             lambda d, full, seed: kill9(d / "kill9", 10_000 if full else 600, 50 if full else 5, seed),
             {"lost": "lost", "corrupt_db": "corrupt_db", "crashes": "crashes",
              "version_regressions": "misnumbered"}),
    Scenario("crash.kill9.ack_on_arrival", "negative control: the same edge acknowledging messages on arrival, "
             "before their change is committed",
             lambda d, full, seed: kill9(d / "kill9-nc", NC_UPDATES, 3, seed, safeguard=False, duration=1.0),
             {}, negative_control=True),
)
