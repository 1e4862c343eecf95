"""bench/twin_sync.py runs a real broker, edge and cloud with a few devices and prints a sane JSON summary in which
nothing is lost (rates are not held to the goal here: the machine running the tests is shared and noisy)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists(),
                                reason="needs mosquitto (apt-get install mosquitto)")


def test_twin_sync_bench_loses_nothing_and_reports_both_rates() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "twin_sync.py"), "--devices", "20", "--updates", "200",
                           "--timeout", "60"], capture_output=True, text=True, timeout=150, cwd=ROOT, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["lost"] == 0 and summary["devices"] == 20 and summary["updates"] == 200
    assert summary["sync_updates_per_s"] > 0 and summary["raw_updates_per_s"] > 0
    ratio = summary["sync_updates_per_s"] / summary["raw_updates_per_s"]
    assert abs(summary["sync_vs_raw_ratio"] - ratio) < 0.01
    assert summary["edge_alive"] and summary["cloud_alive"]
    assert len(summary["raw_updates_per_s_runs"]) == 2


def test_negative_control_counts_the_devices_whose_last_update_went_nowhere() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "twin_sync.py"), "--devices", "20", "--updates", "200",
                           "--timeout", "3", "--control"], capture_output=True, text=True, timeout=150, cwd=ROOT,
                          check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["control"] and summary["lost"] == 2  # devices 0 and 10
