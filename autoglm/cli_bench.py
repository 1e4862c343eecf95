"""`autoglm bench all`: every bench script as a child process, N runs each, into bench/results.json and
docs/performance.md.

Each script prints its JSON summary as the last stdout line; a script that exits non-zero or prints no JSON is
reported as failed with the tail of its stderr, a script that is not there as missing, and the command then exits 1
(after writing both files). Scripts run one at a time, so they do not measure each other.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from autoglm.terminal import echo, secho

if TYPE_CHECKING:
    from bench.suite import Bench

#: The source checkout: the bench scripts are not installed with the package.
ROOT = Path(__file__).resolve().parents[1]
STDERR_TAIL = 2000

app = typer.Typer(help="Benchmarks: run the bench/ scripts, write docs/performance.md and bench/results.json.",
                  no_args_is_help=True)


def load_suite() -> tuple[Bench, ...]:
    """The registry in bench/suite.py (the checkout's bench/ is not a package on the installed path)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bench.suite import SUITE

    return SUITE


def last_json(stdout: str) -> dict[str, Any] | None:
    """The JSON object on the last non-empty stdout line, or None."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        summary = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    return summary if isinstance(summary, dict) else None


def run_once(bench: Bench, args: Sequence[str], root: Path) -> dict[str, Any]:
    """One run of a bench script: its summary, or why it failed (exit status, no JSON, timeout) with stderr's tail."""
    from bench.suite import TMP

    with tempfile.TemporaryDirectory(prefix=f"bench-{bench.name}-") as tmp:
        argv = [sys.executable, str(root / "bench" / bench.script), *(a.replace(TMP, tmp) for a in args)]
        started = time.perf_counter()
        # its own process group: on a timeout or Ctrl-C the brokers, edges and clouds it started go with it
        proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=bench.timeout_s)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            _, stderr = proc.communicate()
            return {"ok": False, "seconds": round(time.perf_counter() - started, 2),
                    "error": f"timed out after {bench.timeout_s:g} s", "stderr_tail": stderr[-STDERR_TAIL:]}
        except BaseException:
            kill_group(proc.pid)
            proc.wait()
            raise
        strays = kill_group(proc.pid)  # a crashed script's broker or edge would disturb the next bench
    seconds = round(time.perf_counter() - started, 2)
    summary = last_json(stdout)
    error = (f"exit status {proc.returncode}" if proc.returncode else None) or (
        None if summary is not None else "no JSON summary on the last stdout line")
    return {"ok": error is None, "seconds": seconds, "summary": summary, "error": error,
            "stderr_tail": stderr[-STDERR_TAIL:] if error else None, "stray_processes_killed": strays}


def kill_group(pgid: int) -> bool:
    """SIGKILL what is left of a bench's process group; whether anything was left."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def run_bench(bench: Bench, *, root: Path, repeat: int, quick: bool, gpu: bool,
              progress: Callable[[str], None]) -> dict[str, Any]:
    """Every run of one bench and its judged figures (see bench/suite.py for the judging)."""
    from bench.suite import judge

    cpu_only = bench.needs_gpu and not gpu
    args = bench.quick_args if quick else bench.cpu_args if cpu_only else bench.args
    entry: dict[str, Any] = {"script": f"bench/{bench.script}", "args": list(args), "measures": bench.measures,
                             "date": datetime.now(UTC).isoformat(timespec="seconds"), "runs": [],
                             "anchor_sources": dict(bench.anchor_sources)}
    if not (root / "bench" / bench.script).is_file():
        progress(f"{bench.name}: missing (bench/{bench.script})")
        return entry | {"status": "missing", "figures": []}
    runs = 1 if bench.once else repeat
    for n in range(runs):
        result = run_once(bench, args, root)
        entry["runs"].append(result)
        progress(f"{bench.name} run {n + 1}/{runs}: {'ok' if result['ok'] else result['error']} "
                 f"in {result['seconds']:.1f} s")
        if not result["ok"]:
            break  # a broken script fails again: its further runs would only cost time
    summaries = [r["summary"] for r in entry["runs"] if r.get("summary") is not None]
    entry["figures"] = [{"key": f.key, **judge(f, summaries)} for f in bench.figures]
    if cpu_only:  # a tiny model on a CPU says nothing about the GPU goals
        for row in entry["figures"]:
            row["met"] = None
        entry["note"] = f"needs a GPU: ran `{' '.join(args)}` on this CPU; not the GPU's figures, goals not judged"
    failed = not all(r["ok"] for r in entry["runs"])
    entry["status"] = "failed" if failed else "needs-gpu" if cpu_only else "ok"
    return entry


def merge(path: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Keep the benches not rerun from an earlier results.json of the same machine and mode."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return results
    same = all(old.get("machine", {}).get(k) == results["machine"][k] for k in ("cpu_model", "cores", "gpu"))
    if not same or old.get("quick") != results["quick"] or not isinstance(old.get("benches"), dict):
        return results
    return results | {"benches": {**old["benches"], **results["benches"]}}


@app.command("all")
def bench_all(
    repeat: Annotated[int, typer.Option(help="Runs of each script (min/median/max over them).")] = 3,
    quick: Annotated[bool, typer.Option("--quick", help="Tiny counts: checks the scripts run, measures nothing.")
                     ] = False,
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only this bench (repeatable); the others' "
                                                                  "entries are kept from the earlier results.json.")
                    ] = None,
    out_dir: Annotated[Path, typer.Option(help="Where bench/results.json and docs/performance.md go.")] = Path("."),
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on a missed goal too.")] = False,
) -> None:
    """Run every bench script, then write bench/results.json and docs/performance.md (figures beside goals)."""
    from autoglm.bench_report import markdown

    if repeat < 1:
        secho("error: --repeat must be 1 or more", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    suite = load_suite()
    from bench.machine import machine
    from bench.suite import by_name

    try:
        benches = by_name(only or [], suite)
    except KeyError as exc:
        secho(f"error: no bench named {exc.args[0]}; choose from {', '.join(b.name for b in suite)}", err=True,
              fg=typer.colors.RED)
        raise typer.Exit(2) from exc
    info = machine()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info, "repeat": repeat, "quick": quick,
        "command": shlex.join(["autoglm", "bench", "all", "--repeat", str(repeat), *(["--quick"] if quick else []),
                               *(a for name in only or [] for a in ("--only", name))]),
        "load_average_start": list(os.getloadavg()), "benches": {}}
    started = time.perf_counter()
    for i, bench in enumerate(benches, 1):
        prefix = f"[{i}/{len(benches)}]"
        results["benches"][bench.name] = run_bench(
            bench, root=ROOT, repeat=repeat, quick=quick, gpu=info["gpu"] is not None,
            progress=lambda line: typer.echo(f"{prefix} {line}", err=True))  # noqa: B023 (called in this turn)
    results["load_average_end"] = list(os.getloadavg())
    results["seconds"] = round(time.perf_counter() - started, 1)
    json_path, doc_path = out_dir / "bench" / "results.json", out_dir / "docs" / "performance.md"
    if only:
        merged = merge(json_path, results)["benches"]
        order = [b.name for b in suite if b.name in merged] + [n for n in merged if n not in {b.name for b in suite}]
        results["benches"] = {name: merged[name] for name in order}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    doc_path.write_text(markdown(results), encoding="utf-8")
    entries = [results["benches"][b.name] for b in benches]
    bad = [f"{b.name}: {e['status']}" for b, e in zip(benches, entries, strict=True) if e["status"] in ("failed",
                                                                                                      "missing")]
    missed = [f"{b.name} {row['key']}" for b, e in zip(benches, entries, strict=True) for row in e["figures"]
              if row["met"] is False]
    echo(f"wrote {json_path} and {doc_path} in {results['seconds']:.0f} s: {len(benches) - len(bad)} of "
         f"{len(benches)} scripts ran, {len(missed)} goals missed")
    for line in bad:
        secho(f"error: {line}", err=True, fg=typer.colors.RED)
    for line in missed:
        secho(f"missed goal: {line}", err=True, fg=typer.colors.YELLOW)
    if bad or (strict and missed):
        raise typer.Exit(1)
