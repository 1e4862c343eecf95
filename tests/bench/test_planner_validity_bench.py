"""The plan-validity benchmark runs end to end on a random model and reports every plan valid."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_planner_validity_random_model() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "planner_validity.py"), "--requests", "24"],
                          capture_output=True, text=True, timeout=280, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["n"] == 24 and summary["constraint"] == "plan_grammar"
    assert summary["valid_fraction"] == 1.0, summary["verdicts"]
