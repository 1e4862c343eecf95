"""Memory and start-up: edge RSS with the intent model loaded, cloud RSS with the tiny planner, edge cold start to
ready, and demo start to the first answered command.

Every figure comes from a real child process on a real Mosquitto:
- edge: `autoglm edge run` (bench.reliability.procs.EdgeProcess) with the shipped intent model and a fresh data
  directory each run; cold start = process start until `GET /readyz` answers 200 (the daemon has opened its
  stores, connected, warmed the template matcher and loaded the ONNX model before it says ready). RSS (VmRSS) is
  read once /readyz is 200 and the model is active (nothing under `degraded`).
- cloud: `autoglm cloud serve` (procs.CloudProcess) with the shipped tiny planner (cloud/models/planner-tiny,
  loaded at start, CPU) and its MQTT link on the same broker; RSS once /readyz says the planner is loaded, and
  again after one answered `POST /v1/plan` (the first generation allocates its caches).
- demo: `autoglm demo --script <one line>` (embedded broker, simulated home, edge and cloud with the planner);
  process start until the script's first command is printed as answered ("ok ...").

Start-up figures are min/median/max over `--runs` runs (`--demo-runs` for the demo).

Usage: python bench/footprint.py [--runs 5] [--demo-runs 2] [--skip-demo] [--skip-cloud]
The last line of stdout is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from bench.reliability.procs import CloudProcess, EdgeProcess, Mosquitto, free_port  # noqa: E402
from bench.stats import spread  # noqa: E402

EDGE_ID = "footprint-edge"
SCRIPT_LINE = "turn on the kitchen lights => done; kitchen_light.state=ON\n"


def get_json(url: str, timeout: float = 1.0) -> tuple[int, dict[str, Any]]:
    """(status, body) of a GET; (0, {}) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None, timeout: float, log: Path) -> dict[str, Any]:
    """Poll `url` every 10 ms until it answers 200; the body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process exited ({proc.returncode}): {log.read_text(errors='replace')[-1500:]}")
        status, body = get_json(url, timeout=0.5)
        if status == 200:
            return body
        time.sleep(0.01)
    raise TimeoutError(f"{url} not ready after {timeout:g}s: {log.read_text(errors='replace')[-1500:]}")


def edge_run(root: Path, broker_port: int, run: int) -> tuple[float, int, dict[str, Any]]:
    """One cold start of the edge with the shipped model: (seconds to /readyz 200, VmRSS KiB, /readyz body)."""
    http_port = free_port()
    settings = {"edge_id": EDGE_ID, "data_dir": str(root / f"edge-data-{run}"),
                "http": {"enabled": True, "port": http_port},
                "mqtt": {"host": "127.0.0.1", "port": broker_port, "client_id": f"footprint-{run}"},
                "uplink": {"heartbeat_s": 30.0}}
    edge = EdgeProcess(root / f"edge-proc-{run}", settings)
    started = time.perf_counter()
    edge.start()
    try:
        url = f"http://127.0.0.1:{http_port}/readyz"
        body = wait_ready(url, edge.proc, 60, edge.log)
        cold = time.perf_counter() - started
        deadline = time.monotonic() + 10  # ready with a degraded model is possible: wait for the model itself
        while body.get("degraded") and time.monotonic() < deadline:
            time.sleep(0.1)
            body = get_json(url)[1]
        time.sleep(0.5)  # let start-up garbage settle, as a running gateway would
        return cold, edge.rss_kb(), body
    finally:
        edge.terminate()


def cloud_rss(root: Path, broker_port: int) -> dict[str, Any]:
    """The cloud server's VmRSS with the tiny planner loaded, then after one answered plan."""
    from bench.reliability.api_matrix import EDGE_A
    from bench.reliability.api_server import prepare

    db = root / "cloud.db"
    token = asyncio.run(prepare(db))
    settings = {"db_path": str(db), "mqtt_enabled": True,
                "mqtt": {"host": "127.0.0.1", "port": broker_port, "client_id": "footprint-cloud"},
                "planner": {"device": "cpu", "lazy_load": False}}
    cloud = CloudProcess(root / "cloud-proc", settings)
    started = time.perf_counter()
    with cloud:
        assert cloud.proc is not None
        body = wait_ready(f"{cloud.url}/readyz", cloud.proc, 120, cloud.log)
        ready_s = time.perf_counter() - started
        time.sleep(0.5)
        loaded = cloud.rss_kb()
        request = urllib.request.Request(
            f"{cloud.url}/v1/plan", method="POST", headers={"Authorization": f"Bearer {token}",
                                                            "Content-Type": "application/json"},
            data=json.dumps({"text": "turn off the kitchen light", "edge_id": EDGE_A}).encode())
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                plan_status = int(response.status)
        except urllib.error.HTTPError as exc:
            plan_status = exc.code
        after_plan = cloud.rss_kb()
    return {"cloud_rss_mb": round(loaded / 1024, 1), "cloud_rss_after_plan_mb": round(after_plan / 1024, 1),
            "cloud_planner": body.get("planner"), "cloud_ready_s": round(ready_s, 2), "cloud_plan_status": plan_status}


def demo_run(root: Path, run: int) -> float:
    """Seconds from `autoglm demo --script` starting to its first answered command."""
    script = root / "one-line.txt"
    script.write_text(SCRIPT_LINE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN_AUTOGLM_")}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "autoglm.cli", "demo", "--script", str(script), "--port", str(free_port()),
               "--cloud-port", str(free_port()), "--workdir", str(root / f"demo-{run}")]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            lines.append(line)
            if line.startswith(("ok ", "FAIL")):
                elapsed = time.perf_counter() - started
                if line.startswith("FAIL"):
                    raise RuntimeError(f"the demo's command failed: {''.join(lines)[-1500:]}")
                return elapsed
        raise RuntimeError(f"the demo ended without answering: {''.join(lines)[-1500:]}")
    finally:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="edge cold starts")
    parser.add_argument("--demo-runs", type=int, default=2)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-cloud", action="store_true")
    args = parser.parse_args()

    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp, Mosquitto(Path(tmp) / "broker",
                                                                                   persistence=False) as broker:
        root = Path(tmp)
        colds, rsses, model_active = [], [], 0
        for run in range(args.runs):
            cold, rss, body = edge_run(root, broker.port, run)
            colds.append(cold)
            rsses.append(rss / 1024)
            model_active += not body.get("degraded")
        summary |= {"edge_rss_mb": round(statistics.median(rsses), 1), "edge_rss_mb_spread": spread(rsses, 1),
                    "edge_cold_start_s": round(statistics.median(colds), 3), "edge_cold_start_s_spread": spread(colds),
                    "edge_model_active_runs": model_active, "edge_runs": args.runs}
        if not args.skip_cloud:
            summary |= cloud_rss(root, broker.port)
        if not args.skip_demo:
            demos = [demo_run(root, run) for run in range(args.demo_runs)]
            summary |= {"demo_first_command_s": round(statistics.median(demos), 3),
                        "demo_first_command_s_spread": spread(demos), "demo_runs": args.demo_runs}
    summary["goals"] = {"edge_rss_mb_max": 150, "edge_cold_start_s_max": 3.0,
                        "edge_rss_met": summary["edge_rss_mb"] <= 150,
                        "edge_cold_start_met": summary["edge_cold_start_s"] <= 3.0}
    summary["machine"] = machine()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
