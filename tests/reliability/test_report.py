"""bench/reliability_report.py: runs the scenarios, writes the report, sums the totals, and fails loudly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.reliability.scenario import TOTALS
from bench.reliability_report import REQUIRED, SCENARIOS, cell, not_yet_measured, summarise

ROOT = Path(__file__).resolve().parents[2]


def test_report_run_has_zero_totals_and_its_negative_controls_show_loss(tmp_path: Path) -> None:
    """The script end to end on two modules (CI runs every scenario through the script itself, in .ci/run; each
    module's own test asserts its figures)."""
    out = tmp_path / "reliability.md"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "reliability_report.py"), "--out", str(out),
                           "--only", "storage.files_at_start", "--only", "twins.racing_writes"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {key: summary[key] for key in TOTALS} == dict.fromkeys(TOTALS, 0)
    ran = [s for s in SCENARIOS if s.name.startswith(("storage.files_at_start", "twins.racing_writes"))]
    controls = [s.name for s in ran if s.negative_control]
    assert len(controls) == 2 and all(summary["negative_controls"][name] > 0 for name in controls)
    assert summary["failures"] == [] and set(summary["scenarios"]) == {s.name for s in ran}
    text = out.read_text(encoding="utf-8")
    assert "## What is not claimed" in text and "exactly-once" in text
    assert all(f"`{s.name}`" in text for s in ran)


def test_every_promised_measurement_has_a_scenario_with_a_negative_control() -> None:
    assert not_yet_measured() == []
    for _, prefix in REQUIRED:
        assert any(s.negative_control and s.name.startswith(prefix + ".") for s in SCENARIOS), prefix


def results(**figures: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": s.name, "figures": figures.get(s.name, {}), "crashed": None} for s in SCENARIOS]


def test_a_loss_a_silent_control_and_a_crash_are_failures() -> None:
    base = {s.name: {s.loss_figure: 1} if s.negative_control else {} for s in SCENARIOS}
    assert summarise(SCENARIOS, results(**base), False)["failures"] == []
    lossy = dict(base, **{"twins.racing_writes": {"lost": 2}})
    summary = summarise(SCENARIOS, results(**lossy), False)
    assert summary["lost"] == 2 and "lost = 2" in summary["failures"]
    silent = dict(base, **{"twins.racing_writes.no_expected_version": {"lost": 0}})
    assert any("negative control" in f for f in summarise(SCENARIOS, results(**silent), False)["failures"])
    crashed = results(**base)
    crashed[0]["crashed"] = "StorageError: boom"
    summary = summarise(SCENARIOS, crashed, False)
    assert summary["crashes"] == 1 and any("crashed" in f for f in summary["failures"])


def test_a_promised_measurement_without_its_scenario_is_listed_as_not_measured() -> None:
    assert not_yet_measured(()) == [item for item, _ in REQUIRED]
    kill9 = next(s for s in SCENARIOS if s.name == "crash.kill9")
    assert "edge storage: kill -9 during QoS 1 updates, integrity_check after every restart" not in \
        not_yet_measured((kill9,))
    control_only = tuple(s for s in SCENARIOS if s.name == "crash.kill9.ack_on_arrival")
    assert len(not_yet_measured(control_only)) == len(REQUIRED)  # a negative control measures nothing


def test_figures_with_hostile_text_are_written_as_inert_markdown() -> None:
    text = cell("a|b <img src=x onerror=alert(1)> `rm -rf` \x1b[31m*bold*")
    assert "<img" not in text and "\x1b" not in text and "|" not in text.replace("\\|", "")
    assert "\\`rm -rf\\`" in text and "\\*bold\\*" in text and "\\u001b" in text
