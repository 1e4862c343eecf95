"""End-to-end command latency and throughput through a real broker, edge and simulated home (separate processes).

The rig: Mosquitto (bench.reliability.procs), `autoglm edge run` with the shipped intent model, and the simulated home
(`autoglm devices simulate`), each its own process. The bench process publishes utterances on the edge's utterance
topic (as `autoglm edge say` does), on an open-loop schedule (send i goes at t0 + i / rate whatever the answers
do), and listens to the devices' `/set` topics and to the edge's decisions. Per command:

- `set_ms`: scheduled send -> the device's `/set` received (the first `/set` to the target device after the send);
- `e2e_ms`: scheduled send -> the decision received with outcome `done`, which the edge publishes only once the
  device's reported state confirmed the command (utterance -> decision -> `/set` -> state -> confirmation).

Paths, checked against the decision's `source`: `template` (phrasings the templates match), `model` (phrasings only
the intent model gets), `cache` (utterances the decision cache holds). Template and model phases run on an edge with
the decision cache off, so every request takes its path; the cache phases on an edge with it on (as shipped).
Each path at 1 command/s and at 100 commands/s, then a ramp (template and model phrasings alternating, cache off)
for the highest rate whose p99 stays under 50 ms with every command done.

Load-testing settings of the bench edge (as an installation being load-tested would set them): the behaviour
monitor's rate floors are raised out of reach, and the admission policy routes everything (no CPU/latency
shedding or queueing); both are reported in the JSON. Everything else is the shipped default, log level `info`.

Usage: python bench/e2e_command.py [--quick] [--duration S] [--rates 100,200,...] [--slow-count N]
The last line of stdout is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bench.machine import machine  # noqa: E402
from bench.reliability.procs import EdgeProcess, Mosquitto, rss_kb  # noqa: E402
from bench.stats import percentile  # noqa: E402
from edge.io.mqtt import no_delay  # noqa: E402
from shared.codec import encode  # noqa: E402
from shared.decision import Utterance  # noqa: E402
from shared.envelope import Envelope  # noqa: E402
from shared.topics import EdgeChannel, edge_topic  # noqa: E402

EDGE_ID = "bench-e2e"
SIM_ROOT = "autoglm-sim"
GOAL_P99_MS = 50.0
LIGHTS = {"kitchen_light": ("kitchen light", "厨房灯"), "bedroom_light": ("bedroom light", "卧室灯"),
          "study_light": ("desk lamp", "台灯"), "bedside_lamp": ("bedside lamp", "床头灯"),
          "living_room_lamp": ("floor lamp", "落地灯"),
          "living_room_ceiling": ("living room ceiling light", "客厅吊灯")}
#: (text, device) pairs per path; on/off alternate per device, so each template/model command changes the state.
TEMPLATE = [(t.format(n=en), d) for d, (en, _zh) in LIGHTS.items()
            for t in ("turn on the {n}", "turn off the {n}")]
TEMPLATE += [(t.format(n=zh), d) for d, (_en, zh) in list(LIGHTS.items())[:2] for t in ("打开{n}", "关闭{n}")]
#: Only the lights the model resolves to one device ("living room ceiling light" it splits; "bedroom light" off is
#: both bedroom lights by area).
MODEL = [(t.format(n=LIGHTS[d][0]), d) for d in ("kitchen_light", "living_room_lamp", "study_light", "bedside_lamp")
         for t in ("could you get the {n} going please", "i want the {n} shut please")]
#: Repeats of these are served from the cache: the light stays on, so the twin fingerprint does not change.
CACHE = [(f"turn on the {en}", d) for d, (en, _zh) in LIGHTS.items()]


@dataclass
class Sent:
    """One scheduled utterance."""

    path: str
    device: str
    due: float
    sent: float = 0.0


@dataclass
class Probe:
    """The bench's MQTT client: publishes utterances, timestamps `/set` commands and decisions as they arrive."""

    port: int
    decisions: list[tuple[float, bytes]] = field(default_factory=list)
    sets: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.utterances = edge_topic(EDGE_ID, EdgeChannel.UTTERANCES)
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-e2e-{uuid.uuid4().hex[:6]}")
        self.client.on_socket_open = no_delay
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(1000)
        self.client.on_message = self._on_message
        ready = threading.Event()
        self.client.on_subscribe = lambda *_a: ready.set()
        self.client.connect("127.0.0.1", self.port, keepalive=60)
        self.client.loop_start()
        self.client.subscribe([(edge_topic(EDGE_ID, EdgeChannel.DECISIONS), 1), (f"{SIM_ROOT}/+/set", 0)])
        if not ready.wait(10):
            raise RuntimeError("the broker did not accept the bench's subscriptions")

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        now = time.perf_counter()  # parsed after the run, so the network thread only timestamps
        if msg.topic.endswith("/set"):
            self.sets.setdefault(msg.topic.split("/")[1], []).append(now)
        else:
            self.decisions.append((now, bytes(msg.payload)))

    def payload(self, text: str) -> tuple[str, bytes]:
        utterance = Utterance(text=text, source="bench")
        envelope = Envelope(trace_id=utterance.trace_id, source="bench", type="utterance",
                            payload=utterance.model_dump(mode="json", exclude_none=True))
        return utterance.id, encode(envelope)

    def run(self, items: list[tuple[str, str, str]], rate: float, timeout: float = 8.0,
            pid: int | None = None) -> dict[str, Any]:
        """Send `items` (path, text, device) at `rate` per second, open loop; wait for every decision.

        With `pid` (the edge's), the edge's CPU time over the phase is reported per command.
        """
        cpu_before = cpu_s(pid) if pid is not None else 0.0
        prepared = [(path, device, *self.payload(text)) for path, text, device in items]  # nothing built while sending
        self.decisions.clear()
        self.sets.clear()
        sent: dict[str, Sent] = {}
        start = time.perf_counter() + 0.05
        for i, (path, device, uid, body) in enumerate(prepared):
            due = start + i / rate
            while (wait := due - time.perf_counter()) > 0:
                time.sleep(wait if wait > 0.002 else 0)
            record = sent[uid] = Sent(path, device, due)
            record.sent = time.perf_counter()
            self.client.publish(self.utterances, body, qos=1)
        send_s = time.perf_counter() - start
        deadline = time.perf_counter() + timeout
        while len(self.decisions) < len(sent) and time.perf_counter() < deadline:
            time.sleep(0.02)
        result = measure(sent, list(self.decisions), {k: list(v) for k, v in self.sets.items()}, rate, send_s)
        if pid is not None:
            result["edge_cpu_ms_per_command"] = round((cpu_s(pid) - cpu_before) * 1000 / max(len(sent), 1), 3)
        return result

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float | None:
    return round(percentile(values, q), 3) if values else None


def measure(sent: dict[str, Sent], decisions: list[tuple[float, bytes]], sets: dict[str, list[float]],
            rate: float, send_s: float) -> dict[str, Any]:
    """Latencies of the commands that ended `done` on the expected path; everything else is counted."""
    e2e: list[float] = []
    set_ms: list[float] = []
    edge_ms: list[float] = []
    outcomes: dict[str, int] = {}
    sources: dict[str, int] = {}
    wrong_path = 0
    answered: set[str] = set()
    for received, body in decisions:
        decision = json.loads(body)["payload"]
        item = sent.get(decision.get("utterance_id", ""))
        if item is None or decision["utterance_id"] in answered:
            continue
        answered.add(decision["utterance_id"])
        outcomes[decision["outcome"]] = outcomes.get(decision["outcome"], 0) + 1
        source = decision.get("source") or "none"
        sources[source] = sources.get(source, 0) + 1
        if decision["outcome"] != "done":
            continue
        if source != item.path:
            wrong_path += 1
            continue
        e2e.append((received - item.due) * 1000)
        edge_ms.append(float(decision.get("latency_ms") or 0.0))
        first = next((t for t in sets.get(item.device, []) if t >= item.sent), None)
        if first is not None:
            set_ms.append((first - item.due) * 1000)
    lost = len(sent) - len(answered)
    done = len(e2e)
    achieved = round(len(sent) / send_s, 1) if send_s else None
    return {"rate_per_s": rate, "sent": len(sent), "achieved_send_rate": achieved,
            "done": done, "not_done": len(sent) - done, "lost": lost, "wrong_path": wrong_path, "outcomes": outcomes,
            "sources": sources, "p50_ms": pct(e2e, 0.5), "p99_ms": pct(e2e, 0.99), "max_ms": pct(e2e, 1.0),
            "set_p50_ms": pct(set_ms, 0.5), "set_p99_ms": pct(set_ms, 0.99),
            "edge_latency_p50_ms": pct(edge_ms, 0.5)}


def schedule(path: str, pairs: list[tuple[str, str]], count: int) -> list[tuple[str, str, str]]:
    return [(path, *pairs[i % len(pairs)]) for i in range(count)]


def mixed(count: int) -> list[tuple[str, str, str]]:
    """Template and model phrasings alternating (each list keeps its on/off order per device)."""
    template, model = schedule("template", TEMPLATE, count), schedule("model", MODEL, count)
    return [template[i // 2] if i % 2 == 0 else model[i // 2] for i in range(count)]


def edge_settings(port: int, data_dir: Path, *, cache: bool, outbox: bool = True) -> dict[str, Any]:
    return {"edge_id": EDGE_ID, "data_dir": data_dir, "mqtt": {"host": "127.0.0.1", "port": port},
            "http": {"enabled": False}, "cache": {"enabled": cache}, "uplink": {"outbox": outbox},
            "monitor": {"device_floor": 1_000_000_000, "user_floor": 1_000_000_000}}


#: Admission routes everything: no CPU- or latency-based shedding or queueing distorts the throughput figure.
ROUTE_ALL = ('\n[[edge.policy.rules]]\nname = "bench_route_all"\n[edge.policy.rules.actions]\n'
             'high = "route"\nnormal = "route"\nlow = "route"\n')


class Edge:
    """The edge child process (EdgeProcess) with the bench's load-testing settings, profiled on request."""

    def __init__(self, workdir: Path, port: int, *, cache: bool, log_level: str, profile: Path | None,
                 outbox: bool = True) -> None:
        self.proc = EdgeProcess(workdir, edge_settings(port, workdir / "data", cache=cache, outbox=outbox),
                                log_level=log_level)
        with self.proc.config.open("a", encoding="utf-8") as config:
            config.write(ROUTE_ALL)
        self.profile = profile

    def start(self) -> None:
        if self.profile is None:
            self.proc.start()
            return
        # The same command line as EdgeProcess, under cProfile; SIGINT ends it cleanly and the profile is written.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN_AUTOGLM_")}
        env["PYTHONPATH"] = str(ROOT)
        with self.proc.log.open("ab") as log:
            self.proc.proc = subprocess.Popen(
                [sys.executable, "-m", "cProfile", "-o", str(self.profile), "-m", "autoglm.cli", "edge", "run",
                 "--config", str(self.proc.config), "--log-level", self.proc.log_level],
                stdout=log, stderr=log, cwd=ROOT, env=env)

    @property
    def pid(self) -> int:
        assert self.proc.proc is not None
        return self.proc.proc.pid

    def rss_mb(self) -> float:
        assert self.proc.proc is not None
        return round(rss_kb(self.proc.proc.pid) / 1024, 1)


def wait_ready(probe: Probe, edge: Edge, timeout: float = 60.0) -> float:
    """Seconds until a command through the edge comes back done (the edge discovered the home, the model loaded)."""
    started = time.perf_counter()
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if not edge.proc.running:
            raise RuntimeError(f"edge exited: {edge.proc.log.read_text(errors='replace')[-1500:]}")
        result = probe.run([("template", *TEMPLATE[0]), ("template", *TEMPLATE[1])], rate=20, timeout=3.0)
        if result["done"] == 2:
            return round(time.perf_counter() - started, 2)
    raise RuntimeError(f"the edge did not serve a command within {timeout:g}s: "
                       f"{edge.proc.log.read_text(errors='replace')[-1500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny counts (for the test): not a measurement")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per 100/s phase and per ramp step")
    parser.add_argument("--slow-count", type=int, default=30, help="commands per path at 1 command/s")
    parser.add_argument("--rates", default="25,50,75,100,150,200,300,400,500,600,800",
                        help="ramp rates (commands/s), tried in order until p99 >= 50 ms or a command fails")
    parser.add_argument("--log-level", default="info", help="the edge's log level (shipped default: info)")
    parser.add_argument("--no-outbox", action="store_true",
                        help="diagnostic: the uplink without its outbox (not shipped), to see what the outbox costs")
    parser.add_argument("--profile", type=Path, help="write the cache-off edge's cProfile stats here")
    parser.add_argument("--only", choices=["ramp", "fast", "template", "model"],
                        help="only the ramp, only the 100/s phases, or one path's 100/s phase (for profiling)")
    args = parser.parse_args()
    duration, slow_count, rates = args.duration, args.slow_count, [float(r) for r in args.rates.split(",")]
    if args.quick:
        duration, slow_count, rates = 0.3, 2, [50.0, 100.0]
    fast = 100.0
    summary: dict[str, Any] = {"machine": machine() | {"load_avg_1m_at_start": round(os.getloadavg()[0], 2)},
                               "quick": args.quick, "duration_s": duration,
                               "slow_count": slow_count, "edge_log_level": args.log_level,
                               "load_test_settings": {"monitor.device_floor": 1_000_000_000,
                                                      "monitor.user_floor": 1_000_000_000,
                                                      "policy.rules": "one rule: route every priority"},
                               "cache_off_for_template_and_model": True, "uplink_outbox": not args.no_outbox}
    paths: dict[str, dict[str, Any]] = {}
    ramp: list[dict[str, Any]] = []
    rss: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        root = Path(tmp)
        with Mosquitto(root / "broker", persistence=False) as broker:
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            with (root / "home.log").open("ab") as home_log:
                home = subprocess.Popen([sys.executable, "-m", "autoglm.cli", "devices", "simulate", "--host",
                                         "127.0.0.1", "--port", str(broker.port), "--log-level", "warning"],
                                        stdout=home_log, stderr=home_log, cwd=ROOT, env=env)
            probe = Probe(broker.port)
            try:
                for cache in (False, True):
                    edge = Edge(root / f"edge-cache-{cache}", broker.port, cache=cache, log_level=args.log_level,
                                profile=args.profile if not cache else None, outbox=not args.no_outbox)
                    edge.start()
                    try:
                        summary[f"ready_s_cache_{'on' if cache else 'off'}"] = wait_ready(probe, edge)
                        if not cache:
                            if args.only != "ramp":
                                for path, pairs in (("template", TEMPLATE), ("model", MODEL)):
                                    if args.only in ("template", "model") and args.only != path:
                                        continue
                                    if args.only is None:
                                        slow = probe.run(schedule(path, pairs, slow_count), rate=1.0, pid=edge.pid)
                                        paths.setdefault(path, {})["1_per_s"] = slow
                                    paths.setdefault(path, {})["100_per_s"] = probe.run(
                                        schedule(path, pairs, int(fast * duration)), rate=fast, pid=edge.pid)
                                    rss.append(edge.rss_mb())
                            if args.only in (None, "ramp"):
                                for rate in rates:
                                    step = probe.run(mixed(max(int(rate * duration), 2)), rate=rate, pid=edge.pid)
                                    rss.append(edge.rss_mb())
                                    ramp.append(step)
                                    if step["not_done"] or (step["p99_ms"] or 1e9) >= GOAL_P99_MS:
                                        break
                        elif args.only is None:
                            probe.run(schedule("cache", CACHE, 2 * len(CACHE)), rate=20)  # fill: the first is a miss
                            paths["cache"] = {
                                "1_per_s": probe.run(schedule("cache", CACHE, slow_count), rate=1.0, pid=edge.pid),
                                "100_per_s": probe.run(schedule("cache", CACHE, int(fast * duration)), rate=fast,
                                                       pid=edge.pid)}
                            rss.append(edge.rss_mb())
                    finally:
                        edge.proc.terminate(timeout=30)
            finally:
                probe.close()
                home.terminate()
                home.wait(10)
    sustained = [s["rate_per_s"] for s in ramp if not s["not_done"] and (s["p99_ms"] or 1e9) < GOAL_P99_MS]
    at_fast = [paths[p]["100_per_s"] for p in ("template", "model") if p in paths]
    summary.update({
        "paths": paths, "ramp": ramp, "p50_p99_are": "the worse of the template and model paths at 100 commands/s",
        "p50_ms": max((r["p50_ms"] for r in at_fast if r["p50_ms"] is not None), default=None),
        "p99_ms": max((r["p99_ms"] for r in at_fast if r["p99_ms"] is not None), default=None),
        "template_p50_ms": paths.get("template", {}).get("100_per_s", {}).get("p50_ms"),
        "template_p99_ms": paths.get("template", {}).get("100_per_s", {}).get("p99_ms"),
        "model_p50_ms": paths.get("model", {}).get("100_per_s", {}).get("p50_ms"),
        "model_p99_ms": paths.get("model", {}).get("100_per_s", {}).get("p99_ms"),
        "cache_hit_p50_ms": paths.get("cache", {}).get("100_per_s", {}).get("p50_ms"),
        "cache_hit_p99_ms": paths.get("cache", {}).get("100_per_s", {}).get("p99_ms"),
        "edge_cpu_ms_per_command": {p: r["100_per_s"].get("edge_cpu_ms_per_command") for p, r in paths.items()},
        "max_commands_per_s": max(sustained, default=0.0),
        "edge_rss_mb": max(rss, default=None),
        "goals": {"p50_ms": 5.0, "p99_ms": 20.0, "cache_hit_p50_ms": 2.0, "max_commands_per_s": 500.0,
                  "edge_rss_mb": 150.0},
    })
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
