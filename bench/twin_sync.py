"""Twin sync throughput: reported-state updates per second from 200 simulated devices through the edge to the cloud,
against raw paho publishing on the same broker in the same run.

Everything is a real process on one real Mosquitto:
- devices: 200 meters announced by retained Home Assistant discovery configs; one paho client publishes their
  state topics (QoS 1, JSON like a zigbee2mqtt sensor, read through a value template). The n-th update of a
  meter carries the reading n.
- edge: `autoglm edge run` (bench.reliability.procs.EdgeProcess) as shipped for the uplink: every change committed
  to the twin, then to the outbox (WAL, synchronous=FULL), sent to the cloud's broker (here the same Mosquitto) and
  de-duplicated by message id in the cloud. The intent model is left out (it plays no part in state updates).
- cloud: `autoglm cloud serve` (procs.CloudProcess: TwinSync over MQTT into its SqliteStore; planner lazy).
  Progress is read from the cloud's SQLite file (WAL: readers do not block its writer).

sync: `--updates` updates (round robin over the devices) published as fast as one paho client goes (100 in
flight); the time runs from the first publish until every device's reported value in the cloud's store is the last
one sent. raw: the same payloads on topics nothing but a paho subscriber listens to (publisher -> subscriber,
QoS 1 both ways); the time runs from the first publish until the subscriber has every message.
lost = devices whose final value in the cloud is not the last one sent (after `--timeout` seconds). The negative
control (`--control`) sends the last update of every tenth device where nobody listens: lost must count them.

Usage: python bench/twin_sync.py [--devices 200] [--updates 4000] [--timeout 120]
The last line of stdout is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from bench.reliability.procs import CloudProcess, EdgeProcess, Mosquitto, wait_until  # noqa: E402
from cloud.sqlite_store import SqliteStore  # noqa: E402

EDGE_ID = "tsync-edge"
NODE = "tsync"
INFLIGHT = 100


def uid(i: int) -> str:
    return f"{NODE}_meter_{i:03d}"


def state_topic(i: int, prefix: str = NODE) -> str:
    return f"{prefix}/{uid(i)}/state"


def discovery(i: int) -> tuple[str, bytes]:
    """A meter's retained discovery config (a sensor read through a value template, as Home Assistant has them)."""
    config = {"unique_id": uid(i), "name": f"Meter {i}", "state_topic": state_topic(i),
              "value_template": "{{ value_json.reading }}", "unit_of_measurement": "W",
              "device": {"identifiers": [uid(i)], "name": f"Meter {i}", "suggested_area": "Lab"}}
    return f"homeassistant/sensor/{NODE}/{uid(i)}/config", json.dumps(config).encode()


def payload(n: int) -> bytes:
    """The n-th update: the reading n with the extra fields a zigbee2mqtt meter sends."""
    return json.dumps({"reading": n, "power": n % 1000, "voltage": 230.1, "linkquality": 87}).encode()


def client(client_id: str, port: int) -> paho.Client:
    """A connected paho client (MQTT 3.1.1, 100 messages in flight) with its network loop running."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
    c.max_inflight_messages_set(INFLIGHT)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    return c


def publish_all(c: paho.Client, messages: list[tuple[str, bytes]], timeout: float, *, retain: bool = False) -> float:
    """Publish every message at QoS 1 as fast as paho takes them; the perf_counter of the first publish."""
    first = time.perf_counter()
    infos = [c.publish(topic, body, qos=1, retain=retain) for topic, body in messages]
    for info in infos:
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise RuntimeError("the broker did not acknowledge a publish")
    return first


def updates(devices: int, count: int, start: int) -> list[tuple[int, int]]:
    """(device, reading) pairs, round robin; readings go on from `start` per device."""
    return [(k % devices, start + k // devices) for k in range(count)]


def raw_rate(port: int, devices: int, count: int, timeout: float) -> float:
    """Messages/s from one paho publisher to one paho subscriber (QoS 1), first publish to last received."""
    got = 0
    last = 0.0
    done = threading.Event()

    def on_message(_c: paho.Client, _u: Any, _msg: paho.MQTTMessage) -> None:
        nonlocal got, last
        got += 1
        if got == count:
            last = time.perf_counter()
            done.set()

    subscribed = threading.Event()
    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="tsync-raw-sub", protocol=paho.MQTTv311)
    sub.max_inflight_messages_set(INFLIGHT)
    sub.on_message = on_message
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.connect("127.0.0.1", port, 30)
    sub.subscribe("raw/#", qos=1)
    sub.loop_start()
    pub = client("tsync-raw-pub", port)
    try:
        if not subscribed.wait(10):
            raise RuntimeError("the raw subscriber's SUBACK did not come")
        first = publish_all(pub, [(state_topic(d, "raw"), payload(n)) for d, n in updates(devices, count, 1)],
                            timeout)
        if not done.wait(timeout):
            raise RuntimeError(f"the raw subscriber got {got} of {count} messages")
        return count / (last - first)
    finally:
        for c in (pub, sub):
            c.disconnect()
            c.loop_stop()


def cloud_values(db: Path) -> dict[str, Any]:
    """Each device's reported value in the cloud's store."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return {str(d): json.loads(v) for d, v in conn.execute(
            "SELECT device_id, reported FROM twin WHERE prop = 'value' AND reported IS NOT NULL")}
    except sqlite3.OperationalError:  # tables not there yet
        return {}
    finally:
        conn.close()


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def edge_devices(db: Path) -> int:
    """Devices the edge has stored (it subscribes to their state topics right after)."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM devices").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def wait_converged(db: Path, want: dict[str, int], timeout: float) -> tuple[float, int]:
    """Poll the cloud's store until every device holds its wanted reading: (perf_counter then, devices behind)."""
    deadline = time.monotonic() + timeout
    while True:
        now = time.perf_counter()
        values = cloud_values(db)
        behind = sum(1 for d, n in want.items() if _reading(values.get(d)) != n)
        if behind == 0 or time.monotonic() > deadline:
            return now, behind
        time.sleep(0.02)


def _reading(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


async def seed(db: Path) -> None:
    """Register the edge in the cloud's store (devices come from its full report)."""
    store = SqliteStore(db)
    await store.open()
    try:
        await store.upsert_edge(EDGE_ID, site="bench")
    finally:
        await store.close()


def sync_rate(root: Path, port: int, broker_pid: int, devices: int, count: int, timeout: float, *,
              control: bool = False) -> dict[str, Any]:
    """Updates/s from the devices through edge and cloud into the cloud's store; devices not converged."""
    db = root / "cloud.db"
    asyncio.run(seed(db))
    no_model = root / "no-model"
    no_model.mkdir()
    edge = EdgeProcess(root / "edge-proc", {
        "edge_id": EDGE_ID, "data_dir": str(root / "edge"), "model_dir": str(no_model), "http": {"enabled": False},
        "mqtt": {"host": "127.0.0.1", "port": port}})
    cloud = CloudProcess(root / "cloud-proc", {
        "db_path": str(db), "mqtt": {"host": "127.0.0.1", "port": port, "client_id": "tsync-cloud"},
        "planner": {"lazy_load": True}})
    with cloud, edge:
        pub = client("tsync-devices", port)
        try:
            publish_all(pub, [discovery(i) for i in range(devices)], timeout, retain=True)
            wait_until(lambda: edge_devices(root / "edge" / "edge.db") == devices, 60, "the edge to learn every device")
            time.sleep(1.0)  # the edge subscribes to a state topic right after storing the device
            # the first state of a device announces it to the cloud (a full twin with its description)
            warm = {uid(i): 1 for i in range(devices)}
            publish_all(pub, [(state_topic(d), payload(n)) for d, n in updates(devices, devices, 1)], timeout)
            _, behind = wait_converged(db, warm, 60)
            if behind:
                raise RuntimeError(f"{behind} devices did not reach the cloud in the warm-up round; edge log: "
                                   f"{edge.log.read_text(errors='replace')[-1500:]}\ncloud log: "
                                   f"{cloud.log.read_text(errors='replace')[-1500:]}")
            plan = updates(devices, count, 2)
            want = {uid(d): n for d, n in plan}
            pids = {"edge": edge.proc.pid, "cloud": cloud.proc.pid, "broker": broker_pid}  # type: ignore[union-attr]
            cpu_before = {k: cpu_s(p) for k, p in pids.items()}
            final = {d: k for k, (d, _n) in enumerate(plan)}  # each device's last update
            detour = {k for d, k in final.items() if control and d % 10 == 0}  # the control's lost updates
            first = publish_all(pub, [(state_topic(d, "nowhere" if k in detour else NODE), payload(n))
                                      for k, (d, n) in enumerate(plan)], timeout)
            published = time.perf_counter()
            last, lost = wait_converged(db, want, timeout)
            cpu = {f"{k}_cpu_s": round(cpu_s(p) - cpu_before[k], 2) for k, p in pids.items()}
        finally:
            pub.disconnect()
            pub.loop_stop()
        edge_alive, cloud_alive = edge.running, cloud.running
    return {"sync_seconds": round(last - first, 3), "publish_seconds": round(published - first, 3),
            "sync_updates_per_s": round(count / (last - first), 1), "lost": lost,
            "edge_alive": edge_alive, "cloud_alive": cloud_alive, "cpu_during_sync": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--updates", type=int, default=4000, help="updates in the measured round")
    parser.add_argument("--timeout", type=float, default=120.0, help="longest wait for convergence (s)")
    parser.add_argument("--control", action="store_true", help="negative control: the last update of every tenth "
                        "device goes to a topic nobody watches, so `lost` must count those devices")
    args = parser.parse_args()
    if args.updates < args.devices:
        sys.exit("error: --updates must be at least --devices (every device is updated in the measured round)")

    with tempfile.TemporaryDirectory(prefix="bench-twin-sync-") as tmp, Mosquitto(Path(tmp) / "broker",
                                                                                   persistence=False) as broker:
        root = Path(tmp)
        raw_before = raw_rate(broker.port, args.devices, args.updates, args.timeout)
        assert broker.proc is not None
        sync = sync_rate(root, broker.port, broker.proc.pid, args.devices, args.updates, args.timeout,
                          control=args.control)
        raw_after = raw_rate(broker.port, args.devices, args.updates, args.timeout)
    raw = (raw_before + raw_after) / 2  # before and after, so a noisy moment weighs on both figures alike
    summary = {"sync_updates_per_s": sync["sync_updates_per_s"], "raw_updates_per_s": round(raw, 1),
               "sync_vs_raw_ratio": round(sync["sync_updates_per_s"] / raw, 3), "lost": sync["lost"],
               "devices": args.devices, "updates": args.updates, "control": args.control,
               "raw_updates_per_s_runs": [round(raw_before, 1), round(raw_after, 1)],
               **{k: v for k, v in sync.items() if k not in ("sync_updates_per_s", "lost")},
               "payload_bytes": len(payload(args.updates)),
               "goals": {"ratio_min": 0.5, "ratio_met": sync["sync_updates_per_s"] / raw >= 0.5,
                         "lost_met": sync["lost"] == 0},
               "machine": machine()}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
