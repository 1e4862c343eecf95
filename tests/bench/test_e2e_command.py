"""bench/e2e_command.py runs end to end with tiny counts: every path answers on its own path, done, and the summary
has its keys (speed is the bench's business, not the test's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.reliability.procs import mosquitto_binary

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    try:
        mosquitto_binary()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "e2e_command.py"), "--quick"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_summary_has_the_issue_keys(summary: dict[str, Any]) -> None:
    for key in ("p50_ms", "p99_ms", "cache_hit_p50_ms", "max_commands_per_s", "edge_rss_mb", "machine", "paths",
                "ramp", "load_test_settings"):
        assert key in summary, key
    assert summary["quick"] is True
    assert summary["machine"]["cores"] >= 1
    assert 20 < summary["edge_rss_mb"] < 2000  # a real process with the model loaded, not a unit mix-up


def test_every_path_and_rate_is_served_on_its_own_path(summary: dict[str, Any]) -> None:
    for path in ("template", "model", "cache"):
        for rate in ("1_per_s", "100_per_s"):
            result = summary["paths"][path][rate]
            assert result["lost"] == 0, (path, rate, result)
            assert result["sources"].get(path, 0) == result["sent"], (path, rate, result["sources"])
            assert result["done"] >= result["sent"] - 1, (path, rate, result["outcomes"])  # one timeout tolerated
            assert result["done"] > 0 and 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
            assert result["set_p50_ms"] is not None and result["set_p50_ms"] <= result["max_ms"]


def test_ramp_counts_and_the_sustained_rate_is_one_of_its_steps(summary: dict[str, Any]) -> None:
    ramp = summary["ramp"]
    assert ramp and ramp[0]["rate_per_s"] == 50.0
    assert all(step["sent"] == step["done"] + step["not_done"] for step in ramp)
    assert summary["max_commands_per_s"] in {0.0, *(step["rate_per_s"] for step in ramp)}
    assert {step["sources"].get("template", 0) > 0 and step["sources"].get("model", 0) > 0 for step in ramp} == {True}
