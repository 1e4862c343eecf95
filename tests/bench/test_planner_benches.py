"""The planner benchmarks run end to end in their CI modes and print their JSON summary last."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return summary


@pytest.mark.timeout(320)
def test_planner_batching_quick() -> None:
    summary = run("planner_batching.py", "--quick", "--requests", "4", "--max-new-tokens", "16")
    for key in ("batching_speedup_32", "grammar_speed_ratio", "batching_speedup_1", "batching_speedup_8"):
        assert isinstance(summary[key], float) and summary[key] > 0
    for run_name in ("batched_1", "unbatched_1", "batched_8", "unbatched_8", "batched_32", "unbatched_32",
                     "grammar_on_8", "grammar_off_8"):
        row = summary["runs"][run_name]
        assert row["requests_per_s"] > 0 and row["p95_s"] >= row["p50_s"] > 0


@pytest.mark.timeout(320)
def test_planner_gpu_tiny_on_cpu() -> None:
    summary = run("planner_gpu.py", "--tiny", "--steps", "2")
    assert summary["device"] == "cpu" and summary["copy_bandwidth_gbs"] > 0
    assert summary["int8_to_bf16_weight_bytes"] <= 0.55
    for dtype in ("bf16", "int8"):
        for batch in ("batch_1", "batch_32"):
            row = summary[dtype][batch]
            assert row["tokens_per_s"] > 0 and 0 < row["fraction_of_bound"] == pytest.approx(
                row["tokens_per_s"] / row["bound_tokens_per_s"], rel=1e-2)
