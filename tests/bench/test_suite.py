"""The bench suite: goals and anchors judged on the median; child processes that fail, print no JSON or are missing
are reported as such; and every real bench script's quick arguments run and give the figures the registry reads."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from autoglm.cli_bench import ROOT, run_bench
from bench.suite import SUITE, TMP, Bench, Figure, Goal, by_name, judge, lookup

OK = """import json, pathlib, sys
counter = pathlib.Path(sys.argv[0]).with_suffix(".count")
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
print("a human line")
print(json.dumps({"p50_ms": [4.0, 6.0, 5.0][n - 1], "base": 10, "nested": {"rate": 100 * n}, "items": [1, 2],
                  "args": sys.argv[1:]}))
"""


def bench(name: str, *figures: Figure, **kwargs: Any) -> Bench:
    return Bench(name, f"{name}.py", f"what {name} measures", figures=figures, timeout_s=60, **kwargs)


def write(root: Path, name: str, code: str) -> None:
    (root / "bench").mkdir(exist_ok=True)
    (root / "bench" / f"{name}.py").write_text(code, encoding="utf-8")


def test_goals_are_judged_on_the_median_with_bounds_relative_to_other_figures() -> None:
    runs = [{"p": 4.0, "base": 10, "x": {"y": 1}}, {"p": 6.0, "base": 10, "x": {"y": 3}}, {"p": 5.5, "base": 12}]
    row = judge(Figure("p", "p", "ms", Goal("<=", 5)), runs)
    assert (row["min"], row["median"], row["max"], row["met"]) == (4.0, 5.5, 6.0, False)
    assert row["missed_by"] == pytest.approx(0.5) and row["missed_ratio"] == pytest.approx(1.1)
    assert judge(Figure("p", "p", goal=Goal("<=", 0.6, of="base")), runs)["met"] is True  # 5.5 <= 0.6 x 10
    assert judge(Figure("x.y", "y", goal=Goal(">=", 2)), runs)["values"] == [1.0, 3.0]
    assert judge(Figure("p", "p", goal=Goal("<=", 1, of="absent")), runs)["met"] is None
    assert judge(Figure("gone", "gone", goal=Goal("==", 0)), runs)["met"] is None  # not measured is not met
    assert judge(Figure("p", "p", anchors=("base",)), runs)["anchors"]["base"]["median"] == 10
    assert judge(Figure("x", "n", count=True), runs)["values"] == [1.0, 1.0]
    assert lookup({"a": {"b": None}}, "a.b.c") is None


def test_a_bench_runs_n_times_as_a_child_process_and_reports_min_median_max(tmp_path: Path) -> None:
    write(tmp_path, "fake", OK)
    spec = bench("fake", Figure("p50_ms", "p50", "ms", Goal("<=", 5)), Figure("nested.rate", "rate"),
                 args=("--out", f"{TMP}/x"))
    lines: list[str] = []
    entry = run_bench(spec, root=tmp_path, repeat=3, quick=False, gpu=False, progress=lines.append)
    assert entry["status"] == "ok" and len(entry["runs"]) == 3 and len(lines) == 3
    p50, rate = entry["figures"]
    assert (p50["min"], p50["median"], p50["max"], p50["met"]) == (4.0, 5.0, 6.0, True)
    assert rate["values"] == [100.0, 200.0, 300.0]
    out_arg = entry["runs"][0]["summary"]["args"][1]
    assert TMP not in out_arg and out_arg.endswith("/x")  # a fresh temporary directory, not the repo


def test_failures_no_json_missing_and_once(tmp_path: Path) -> None:
    write(tmp_path, "crash", "import sys\nprint('{}')\nsys.stderr.write('boom: the broker is gone\\n')\nsys.exit(3)\n")
    write(tmp_path, "silent", "print('no summary here')\n")
    write(tmp_path, "once", OK)
    progress: list[str] = []
    crash = run_bench(bench("crash"), root=tmp_path, repeat=3, quick=False, gpu=False, progress=progress.append)
    assert crash["status"] == "failed" and len(crash["runs"]) == 1  # no more runs after a failure
    assert crash["runs"][0]["error"] == "exit status 3" and "the broker is gone" in crash["runs"][0]["stderr_tail"]
    silent = run_bench(bench("silent"), root=tmp_path, repeat=2, quick=False, gpu=False, progress=progress.append)
    assert silent["status"] == "failed" and "no JSON" in silent["runs"][0]["error"]
    missing = run_bench(bench("absent"), root=tmp_path, repeat=2, quick=False, gpu=False, progress=progress.append)
    assert missing["status"] == "missing" and missing["runs"] == []
    once = run_bench(bench("once", once=True), root=tmp_path, repeat=3, quick=False, gpu=False,
                     progress=progress.append)
    assert once["status"] == "ok" and len(once["runs"]) == 1


def test_a_hung_script_times_out_and_what_a_script_leaves_running_is_killed(tmp_path: Path) -> None:
    write(tmp_path, "hang", "import time\ntime.sleep(60)\n")
    started = time.monotonic()
    hung = run_bench(Bench("hang", "hang.py", "m", timeout_s=1), root=tmp_path, repeat=2, quick=False, gpu=False,
                     progress=lambda _: None)
    assert hung["status"] == "failed" and hung["runs"][0]["error"] == "timed out after 1 s"
    assert time.monotonic() - started < 20
    pid_file = tmp_path / "stray.pid"
    write(tmp_path, "stray", "import json, subprocess, sys\n"
                             "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],\n"
                             "                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
                             f"open({str(pid_file)!r}, 'w').write(str(p.pid))\nprint(json.dumps({{}}))\n")
    entry = run_bench(bench("stray"), root=tmp_path, repeat=1, quick=False, gpu=False, progress=lambda _: None)
    assert entry["status"] == "ok" and entry["runs"][0]["stray_processes_killed"]
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
        assert time.monotonic() < deadline, "the stray child outlived its bench"
        time.sleep(0.05)


def test_a_gpu_bench_on_a_cpu_runs_its_cpu_mode_and_is_not_judged(tmp_path: Path) -> None:
    write(tmp_path, "gpu", OK)
    spec = bench("gpu", Figure("p50_ms", "p50", goal=Goal("<=", 100)), needs_gpu=True, args=("--full",),
                 cpu_args=("--tiny",), quick_args=("--tiny", "--steps", "1"))
    entry = run_bench(spec, root=tmp_path, repeat=1, quick=False, gpu=False, progress=lambda _: None)
    assert entry["status"] == "needs-gpu" and entry["args"] == ["--tiny"] and "needs a GPU" in entry["note"]
    assert entry["figures"][0]["met"] is None
    on_gpu = run_bench(spec, root=tmp_path, repeat=1, quick=False, gpu=True, progress=lambda _: None)
    assert on_gpu["status"] == "ok" and on_gpu["args"] == ["--full"] and on_gpu["figures"][0]["met"] is True


def test_the_registry_names_real_scripts_once_each_with_quick_arguments() -> None:
    assert len({b.name for b in SUITE}) == len(SUITE)
    not_benches = {"suite.py", "machine.py", "stats.py", "check_intent_model.py"}  # modules the scripts import; a check
    assert {b.script for b in SUITE} >= {p.name for p in (ROOT / "bench").glob("*.py")} - not_benches
    for spec in SUITE:
        assert spec.figures and spec.quick_args, spec.name
        assert set(spec.anchor_sources) <= {a for f in spec.figures for a in f.anchors} | {f.key for f in spec.figures}
    with pytest.raises(KeyError, match="nope"):
        by_name(["storage", "nope"])


def has_key(summary: dict[str, Any], key: str) -> bool:
    node: Any = summary
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@pytest.mark.integration
@pytest.mark.timeout(900)
@pytest.mark.skipif(shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists(),
                    reason="the end-to-end benches need Mosquitto")
def test_every_real_bench_script_runs_with_its_quick_arguments(tmp_path: Path) -> None:
    """The real scripts, as `autoglm bench all --quick` runs them: each prints every key the registry reads."""
    proc = subprocess.run(
        [sys.executable, "-m", "autoglm.cli", "bench", "all", "--quick", "--repeat", "1", "--out-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=880, check=False)
    results = json.loads((tmp_path / "bench" / "results.json").read_text(encoding="utf-8"))
    assert list(results["benches"]) == [b.name for b in SUITE]
    problems = []  # every script's, at once
    for spec in SUITE:
        entry = results["benches"][spec.name]
        if entry["status"] == "missing":  # written by another change; the command says so and exits 1
            continue
        if entry["status"] not in ("ok", "needs-gpu"):
            problems.append((spec.name, entry["runs"][-1]["error"], entry["runs"][-1]["stderr_tail"][-800:]))
            continue
        summary = entry["runs"][0]["summary"]
        for figure in spec.figures:
            keys = (figure.key, *figure.anchors, *((figure.goal.of,) if figure.goal and figure.goal.of else ()))
            problems += [(spec.name, f"no key {key}") for key in keys if not has_key(summary, key)]
    assert not problems
    missing = [n for n, e in results["benches"].items() if e["status"] == "missing"]
    assert proc.returncode == (1 if missing else 0), proc.stderr[-3000:]
    assert "Quick mode" in (tmp_path / "docs" / "performance.md").read_text(encoding="utf-8")


def test_what_bounds_a_figure_is_kept_only_where_its_goal_is_missed() -> None:
    figure = Figure("p", "p", "ms", Goal("<=", 5), bounded_by="the edge's CPU per command")
    assert judge(figure, [{"p": 9.0}])["bounded_by"] == "the edge's CPU per command"
    assert "bounded_by" not in judge(figure, [{"p": 1.0}])
