"""bench/footprint.py starts a real edge, cloud and demo once each and prints a sane JSON summary (figures are not
held to the goals here: the machine running the tests is shared and noisy)."""

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


def test_footprint_bench_measures_every_figure() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "footprint.py"), "--runs", "1", "--demo-runs", "1"],
                          capture_output=True, text=True, timeout=180, cwd=ROOT, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 20 < summary["edge_rss_mb"] < 2000 and 20 < summary["cloud_rss_mb"] < 8000
    assert summary["cloud_rss_after_plan_mb"] > 0 and summary["cloud_planner"] == "loaded"
    assert summary["cloud_plan_status"] == 200
    assert 0 < summary["edge_cold_start_s"] < 60 and 0 < summary["demo_first_command_s"] < 120
    assert summary["edge_model_active_runs"] == summary["edge_runs"] == 1  # RSS measured with the model loaded
    for key in ("edge_rss_mb_spread", "edge_cold_start_s_spread", "demo_first_command_s_spread"):
        assert summary[key]["min"] <= summary[key]["median"] <= summary[key]["max"]
    assert set(summary["goals"]) >= {"edge_rss_met", "edge_cold_start_met"}
