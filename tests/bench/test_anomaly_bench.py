"""The anomaly benchmark runs end to end, is deterministic for a seed, and its negative control detects nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "anomaly.py"), "--days", "8", "--per-kind", "3",
                           *args], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    summary.pop("checks_per_s")  # timing, not behaviour
    return summary


def test_injected_anomalies_are_caught_and_false_positives_reported() -> None:
    summary = run("--seed", "3")
    assert summary["bursts_injected"] == summary["bursts_detected"] == 6
    assert summary["sequences_injected"] == summary["sequences_held"] == 3
    assert summary["benign_events"] > 200
    assert 0 <= summary["false_positive_rate"] < 0.1
    assert summary == run("--seed", "3")


def test_negative_control_with_rules_off_catches_nothing() -> None:
    summary = run("--seed", "3", "--control")
    assert summary["control"] and summary["bursts_injected"] == 6 and summary["sequences_injected"] == 3
    caught = ("bursts_detected", "sequences_held", "unusual_sources_held", "out_of_character_held", "false_positives")
    assert [summary[key] for key in caught] == [0] * len(caught)
