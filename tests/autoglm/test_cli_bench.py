"""`autoglm bench all` on a registry of small fake scripts (real child processes): both files written, the exit status
says what failed, missed goals say by how much, `--only` keeps the other entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from autoglm import cli_bench
from autoglm.bench_report import fmt, markdown
from autoglm.cli import app
from bench import machine as bench_machine
from bench.suite import Bench, Figure, Goal

runner = CliRunner()

FAST = 'import json\nprint(json.dumps({"p50_ms": 3.0, "rate": 1200.5, "raw": 2000, "lost": 0}))\n'
SLOW = 'import json\nprint(json.dumps({"p99_ms": 30.0}))\n'
BROKEN = "import sys\nsys.stderr.write('Traceback: the model is missing\\n')\nsys.exit(1)\n"

SUITE = (
    Bench("fast", "fast.py", "a fast path", quick_args=("--quick",),
          figures=(Figure("p50_ms", "p50", "ms", Goal("<=", 5)),
                   Figure("rate", "rate", "updates/s", Goal(">=", 0.5, of="raw"), anchors=("raw",)),
                   Figure("lost", "lost", goal=Goal("==", 0))),
          anchor_sources={"raw": "raw paho on the same broker"}),
    Bench("slow", "slow.py", "a slow path",
          figures=(Figure("p99_ms", "p99", "ms", Goal("<=", 20), bounded_by="one core per edge"),)),
    Bench("gpu", "gpu.py", "a GPU path", needs_gpu=True, cpu_args=("--tiny",),
          figures=(Figure("p50_ms", "p50", "ms", Goal("<=", 1)),)),
)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / "bench").mkdir(parents=True)
    for name, code in (("fast", FAST), ("slow", SLOW), ("gpu", FAST)):
        (root / "bench" / f"{name}.py").write_text(code, encoding="utf-8")
    monkeypatch.setattr(cli_bench, "ROOT", root)
    monkeypatch.setattr(cli_bench, "load_suite", lambda: SUITE)
    monkeypatch.setattr(bench_machine, "gpu_name", lambda: None)
    return root


def bench_all(out: Path, *args: str) -> tuple[int, str, dict[str, Any], str]:
    result = runner.invoke(app, ["bench", "all", "--out-dir", str(out), *args])
    results = json.loads((out / "bench" / "results.json").read_text(encoding="utf-8"))
    return result.exit_code, result.output, results, (out / "docs" / "performance.md").read_text(encoding="utf-8")


def test_every_script_runs_and_both_files_hold_the_machine_figures_goals_and_missed_goals(fake: Path) -> None:
    code, output, results, doc = bench_all(fake / "out", "--repeat", "2")
    assert code == 0, output  # a missed goal is reported, not a failure (see --strict)
    machine = results["machine"]
    assert machine["cores"] >= 1 and machine["cpu_model"] and machine["python"]
    assert set(machine["libraries"]) == {"torch", "onnxruntime", "transformers", "paho-mqtt", "fastapi", "sqlite"}
    assert results["repeat"] == 2 and results["date"] and not results["quick"]
    fast = results["benches"]["fast"]
    assert fast["status"] == "ok" and len(fast["runs"]) == 2 and fast["runs"][0]["summary"]["rate"] == 1200.5
    assert [row["met"] for row in fast["figures"]] == [True, True, True]
    slow = results["benches"]["slow"]["figures"][0]
    assert slow["met"] is False and slow["missed_by"] == 10 and slow["missed_ratio"] == 1.5
    gpu = results["benches"]["gpu"]
    assert gpu["status"] == "needs-gpu" and gpu["args"] == ["--tiny"] and gpu["figures"][0]["met"] is None
    assert "| figure | min | median | max | goal / anchor | met? |" in doc
    assert "| p50 (ms) `p50_ms` | 3 | 3 | 3 | goal <= 5 (issue 7) | yes |" in doc
    assert "beside `raw` 2,000" in doc and "anchor `raw`: raw paho on the same broker" in doc
    assert "## Missed goals" in doc and "median 30 ms against <= 20 (issue 7) = 20 ms: off by 10 ms, 1.5x" in doc
    assert "1.5x the bound. What bounds it: one core per edge" in doc
    assert "needs a GPU" in doc and "Goals met: 3 of 4 judged" in doc
    assert "1 goals missed" in output


def test_strict_fails_on_a_missed_goal(fake: Path) -> None:
    assert bench_all(fake / "out", "--repeat", "1", "--strict")[0] == 1


def test_a_failed_or_missing_script_is_reported_with_its_stderr_and_the_command_exits_1(fake: Path) -> None:
    (fake / "bench" / "slow.py").write_text(BROKEN, encoding="utf-8")
    (fake / "bench" / "gpu.py").unlink()
    code, output, results, doc = bench_all(fake / "out", "--repeat", "3")
    assert code == 1
    assert results["benches"]["slow"]["status"] == "failed" and results["benches"]["gpu"]["status"] == "missing"
    assert "the model is missing" in results["benches"]["slow"]["runs"][0]["stderr_tail"]
    assert "## Scripts that failed or are missing" in doc and "Traceback: the model is missing" in doc
    assert "error: slow: failed" in output and "error: gpu: missing" in output
    assert results["benches"]["fast"]["status"] == "ok"  # the others still ran


def test_quick_uses_the_quick_arguments_and_says_so(fake: Path) -> None:
    code, _, results, doc = bench_all(fake / "out", "--quick", "--repeat", "1", "--only", "fast")
    assert code == 0 and results["quick"] and results["benches"]["fast"]["args"] == ["--quick"]
    assert "Quick mode" in doc


def test_only_reruns_one_bench_and_keeps_the_others(fake: Path) -> None:
    out = fake / "out"
    bench_all(out, "--repeat", "1")
    (fake / "bench" / "fast.py").write_text(FAST.replace("3.0", "4.0"), encoding="utf-8")
    code, _, results, doc = bench_all(out, "--repeat", "1", "--only", "fast")
    assert code == 0 and list(results["benches"]) == ["fast", "slow", "gpu"]
    assert results["benches"]["fast"]["figures"][0]["median"] == 4.0 and "### slow" in doc


def test_bad_options_give_one_clear_line(fake: Path) -> None:
    result = runner.invoke(app, ["bench", "all", "--only", "nope", "--out-dir", str(fake / "out")])
    assert result.exit_code == 2 and "no bench named nope; choose from fast, slow, gpu" in result.output
    assert runner.invoke(app, ["bench", "all", "--repeat", "0"]).exit_code == 2
    assert not (fake / "out").exists()


def test_report_numbers_and_hostile_text() -> None:
    assert [fmt(v) for v in (None, 0.000123456, 3.0, 123.45, 12345.6)] == ["n/a", "0.0001235", "3", "123.5", "12,346"]
    results = {"command": "autoglm bench all", "date": "2026-12-05T00:00:00+00:00", "seconds": 1, "repeat": 1,
               "machine": {"cpu_model": "x|y", "cores": 2, "memory_gb": 1, "gpu": None, "os": "L", "python": "3",
                           "libraries": {"torch": None}},
               "benches": {"b": {"script": "bench/b.py", "args": [], "measures": "m", "status": "failed",
                                 "date": "2026", "figures": [],
                                 "runs": [{"ok": False, "seconds": 1.0, "error": "exit status 1",
                                           "stderr_tail": "~~~\n| not a table"}]}}}
    doc = markdown(results)
    assert "x\\|y" in doc and "torch not installed" in doc and "~ ~ ~" in doc
