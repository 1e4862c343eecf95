"""Reliability report: runs the reliability scenarios, writes docs/reliability.md and prints a JSON summary last.

Usage: python bench/reliability_report.py [--full] [--out docs/reliability.md] [--seed N]
Without --full the counts are CI's reduced ones. The summary sums `lost`, `double_applied`, `crashes`,
`corrupt_db`, `unauthorized_calls`, `api_5xx`, `rbac_mismatches`, `version_regressions` and `lock_errors` over
the scenarios that measure them (a total covers only the scenarios run: see `not_yet_measured`), lists the
scenarios run (each with its own figures) and the negative controls, which must each report a loss. It exits 1 when
a safeguarded scenario reports a loss or a negative control does not.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import importlib
import json
import logging
import os
import pkgutil
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench.reliability  # noqa: E402
from bench.reliability.scenario import TOTALS, Scenario  # noqa: E402

#: The report's order of the scenario modules (one scenario and its negative controls each, grouped by the issue's
#: sections); a module not named here comes last.
ORDER = ("storage_concurrent_writers", "storage_files_at_start", "crash_kill9", "crash_disk_full", "payloads",
         "utterances", "broker_restarts", "broker_takeovers", "broker_outage", "acl", "twins_racing_writes",
         "twins_shuffled_deltas", "offline_crash_during_drain", "offline_overflowing_outage", "twins_reconnect_races",
         "offline_stale_commands", "breaker", "security", "security_edge", "api_fuzz", "api_rbac_matrix",
         "api_bad_tokens", "api_server")


def collect() -> tuple[Scenario, ...]:
    """The `SCENARIOS` of every module in bench/reliability, in the report's order."""
    names = [m.name for m in pkgutil.iter_modules(bench.reliability.__path__)]
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    found: list[Scenario] = []
    for name in names:
        found += getattr(importlib.import_module(f"bench.reliability.{name}"), "SCENARIOS", ())
    return tuple(found)


SCENARIOS = collect()

#: Every measurement the suite promises, with the scenario (name prefix) that makes it. An item whose scenario does
#: not exist is listed as not measured, instead of being counted as 0 in the totals.
REQUIRED = (
    ("edge storage: kill -9 during QoS 1 updates, integrity_check after every restart", "crash.kill9"),
    ("edge storage: 4 concurrent writers", "storage.concurrent_writers"),
    ("edge storage: disk full", "crash.disk_full"),
    ("edge storage: corrupt or foreign files at start", "storage.files_at_start"),
    ("MQTT: broker restarted and killed during QoS 1 commands", "broker.restarts"),
    ("MQTT: broker down while the edge keeps producing", "broker.outage"),
    ("MQTT: forced session take-overs", "broker.takeovers"),
    ("MQTT: topic abuse against the shipped ACL", "acl.topic_abuse"),
    ("MQTT: malformed payloads", "mqtt.malformed_payloads"),
    ("malformed utterances", "utterances.malformed"),
    ("twins: racing writes", "twins.racing_writes"),
    ("twins: shuffled, duplicated and delayed deltas", "twins.shuffled_deltas"),
    ("twins: reconnect races", "twins.reconnect_races"),
    ("offline: crash during outbox drain", "offline.crash_during_drain"),
    ("offline: an outage that overflows the outbox", "offline.overflowing_outage"),
    ("offline: stale or expired commands after reconnect", "offline.stale_commands"),
    ("circuit breaker: black-holed cloud and recovery time", "breaker.black_holed_cloud"),
    ("planner and agent security against a compromised planner", "security.compromised_planner"),
    ("edge confirmations against a hostile cloud and sender", "security_edge.confirmations"),
    ("cloud API: schemathesis over the OpenAPI spec", "api.fuzz"),
    ("cloud API: role x endpoint x method x site matrix", "api.rbac_matrix"),
    ("cloud API: expired, revoked, wrong-secret and other-site tokens", "api.bad_tokens"),
    ("cloud API: 50 MB body, deep JSON, 1,000 concurrent plan requests on a real server", "api.server"),
)


def not_yet_measured(scenarios: tuple[Scenario, ...] = SCENARIOS) -> list[str]:
    """The promised measurements no scenario makes yet."""
    return [item for item, prefix in REQUIRED
            if not any(s.name == prefix or s.name.startswith(prefix + ".") for s in scenarios
                       if not s.negative_control)]


async def run_all(scenarios: tuple[Scenario, ...], full: bool, seed: int) -> list[dict[str, Any]]:
    """Each scenario in a fresh temporary directory; a crashed scenario is reported, not raised."""
    results = []
    for scenario in scenarios:
        with tempfile.TemporaryDirectory(prefix="autoglm-reliability-") as tmp:
            started = time.perf_counter()
            try:
                figures = await scenario.run(Path(tmp), full, seed)
                crashed = None
            except Exception as exc:
                figures, crashed = {}, f"{type(exc).__name__}: {exc}"
        results.append({"name": scenario.name, "claim": scenario.claim, "negative_control": scenario.negative_control,
                        "figures": figures, "crashed": crashed, "seconds": round(time.perf_counter() - started, 2)})
    return results


def summarise(scenarios: tuple[Scenario, ...], results: list[dict[str, Any]], full: bool) -> dict[str, Any]:
    """The JSON summary: totals over safeguarded scenarios, negative controls' losses, failures."""
    totals = dict.fromkeys(TOTALS, 0)
    failures = []
    controls = {}
    for scenario, result in zip(scenarios, results, strict=True):
        if result["crashed"]:
            totals["crashes"] += 1
            failures.append(f"{scenario.name} crashed: {result['crashed']}")
            continue
        if scenario.negative_control:
            loss = result["figures"].get(scenario.loss_figure, 0)
            controls[scenario.name] = loss
            if not loss:
                failures.append(f"{scenario.name}: the negative control reported no loss")
            continue
        for key, figure in scenario.totals.items():
            totals[key] += int(result["figures"].get(figure, 0))
        if result["figures"].get("errors"):
            failures.append(f"{scenario.name}: {result['figures']['errors']} unexpected errors")
    failures += [f"{key} = {value}" for key, value in totals.items() if value]
    return {"mode": "full" if full else "reduced", "seconds": round(sum(r.get("seconds", 0) for r in results), 1),
            **totals, "negative_controls": controls,
            "scenarios": {r["name"]: r["figures"] for r in results}, "not_yet_measured": not_yet_measured(),
            "failures": failures}


def machine() -> str:
    """CPU model and core count of this machine."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        model = next(line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.machine()
    return f"{model}, {os.cpu_count()} cores"


def cell(text: object) -> str:
    """Text for a Markdown table cell: figures may hold hostile strings (utterances, planner text), so HTML, pipes,
    Markdown emphasis and code marks, and control characters are written as inert text."""
    out = html.escape(str(text), quote=False).replace("|", "\\|").replace("`", "\\`").replace("*", "\\*")
    out = out.replace("_", "\\_").replace("[", "\\[")
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in out)


def markdown(results: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """docs/reliability.md: what was run, on what, with which figures, and what is not claimed."""
    lines = [
        "# Reliability",
        "",
        f"Written by `bench/reliability_report.py{' --full' if summary['mode'] == 'full' else ''}` on "
        f"{datetime.now(UTC):%Y-%m-%d} ({machine()}, Python {platform.python_version()}, "
        f"{summary['mode']} counts, {summary['seconds']} s in all). Every scenario runs real parts (SQLite "
        "files, Mosquitto brokers, edge and cloud child processes, a uvicorn server); each negative control switches "
        "its safeguard off and must show the loss the scenario would catch.",
        "",
        "| total | value |",
        "| --- | --- |",
        *[f"| `{key}` | {summary[key]} |" for key in TOTALS],
        "",
        "| scenario | claim | figures | s |",
        "| --- | --- | --- | --- |",
    ]
    for r in results:
        figures = r["crashed"] or ", ".join(f"{k} {v}" for k, v in r["figures"].items())
        lines.append(f"| `{r['name']}` | {cell(r['claim'])} | {cell(figures)} | {r['seconds']} |")
    missing = summary["not_yet_measured"]
    lines += ["", "## Not measured yet", "", *([f"- {item}" for item in missing] or ["Nothing: every promised "
                                                                                      "measurement above ran."]), "",
              "## What is not claimed", "",
              "- No exactly-once delivery: delivery is at-least-once with idempotent, versioned handling.",
              "- No power-loss durability beyond what SQLite's WAL with `synchronous=FULL` gives.",
              "- No model-level immunity to prompt injection: plans are validated and authorised after the model, "
              "whatever it wrote.",
              "- Device commands go out at QoS 0, as Home Assistant sends them (a broker restored from persistence "
              "would otherwise replay old ones); a command counts as done when the device's reported state confirms "
              "it, and the sender retries until then.",
              "- Command expiry compares the cloud's and the edge's clocks: keep both on NTP.",
              "- The outbox bound drops the oldest messages when full: they are counted and the cloud is told, "
              "but they are gone.",
              "- The shipped ACL trusts bridges (zigbee2mqtt, the simulated home) with the whole home's discovery, and "
              "gives the edge's user `#` on the home broker (deploy/mosquitto/README.md); it does not check payloads: "
              "a device can still lie about its own state.", "",
              "## Limits of these measurements", "",
              "- Time is compressed where the real wait would not fit the budget: the overflowing outage makes a long "
              "outage's reports as fast as the edge takes them, and the stale-command scenario uses a 1 s expiry.",
              "- The breaker's recovery is timed against a small stub cloud on a real uvicorn server; the behaviour "
              "monitor's rate limit is off in that scenario (its bursts of local commands would trip it).",
              "- The crash and broker scenarios kill at random moments: a run proves no loss at the moments it hit, "
              "and the negative controls show those moments are ones where loss happens without the safeguard.",
              "- Figures are from one machine and one seed unless the table says otherwise.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issue's full counts (default: CI's reduced ones)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append", default=[], metavar="PREFIX",
                        help="run only the scenarios whose name starts with PREFIX (repeatable)")
    args = parser.parse_args()
    scenarios = tuple(s for s in SCENARIOS if not args.only or any(s.name.startswith(p) for p in args.only))
    if not scenarios:
        parser.error(f"no scenario starts with {' or '.join(args.only)}")
    logging.basicConfig(level=logging.ERROR)  # rejected payloads are logged one by one; the figures count them
    results = asyncio.run(run_all(scenarios, args.full, args.seed))
    summary = summarise(scenarios, results, args.full)
    args.out.write_text(markdown(results, summary), encoding="utf-8")
    for failure in summary["failures"]:
        print(f"FAIL: {failure}", file=sys.stderr)
    print(json.dumps(summary))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
