"""promtool on the shipped Prometheus config: `check config`, `check rules`, `test rules` (Debian's prometheus)."""

from __future__ import annotations

import subprocess

import pytest

from tests.deploy.deployfiles import PROMETHEUS, alert_rules, promtool

pytestmark = pytest.mark.timeout(120)

#: Alerts issue 8 asks for; each must exist and have a promtool unit test.
REQUIRED_ALERTS = {
    "AutoglmEdgeOffline", "AutoglmEdgeCloudBreakerOpen", "AutoglmEdgeOutboxGrowing", "AutoglmEdgeDecisionLatencyHigh",
    "AutoglmEdgeAnomaly", "AutoglmPlannerQueueSaturated", "AutoglmHealthChecksFailing",
}


def run(*args: str) -> str:
    done = subprocess.run([promtool(), *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_promtool_is_the_packaged_one() -> None:
    assert "promtool, version" in run("--version")


def test_check_config() -> None:
    assert "SUCCESS" in run("check", "config", "prometheus.yml")


def test_check_rules() -> None:
    files = sorted(str(p.relative_to(PROMETHEUS)) for p in (PROMETHEUS / "rules").glob("*.yml"))
    assert files, "no rule files in deploy/prometheus/rules"
    assert "SUCCESS" in run("check", "rules", *files)


def test_rules_unit_tests() -> None:
    files = sorted(str(p.relative_to(PROMETHEUS)) for p in (PROMETHEUS / "tests").glob("*.yml"))
    assert files, "no promtool unit tests in deploy/prometheus/tests"
    assert "SUCCESS" in run("test", "rules", *files)


def test_every_required_alert_exists_and_is_unit_tested() -> None:
    names = {rule.get("alert") for rule in alert_rules()}
    assert REQUIRED_ALERTS <= names, f"missing alerts: {sorted(REQUIRED_ALERTS - names)}"
    tested = "\n".join(p.read_text() for p in (PROMETHEUS / "tests").glob("*.yml"))
    untested = sorted(n for n in names if n and f"alertname: {n}\n" not in tested)
    assert not untested, f"alerts without a promtool unit test: {untested}"


def test_a_broken_rule_fails_promtool(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Negative control: promtool rejects a rule with bad PromQL, so the checks above can fail."""
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: bad\n    rules:\n      - alert: Bad\n        expr: rate(up[5m]\n")
    done = subprocess.run([promtool(), "check", "rules", str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if duration.endswith(unit) and duration[: -len(unit)].isdigit():
            return float(duration[: -len(unit)]) * units[unit]
    raise AssertionError(f"unexpected duration {duration!r}")


def test_five_failed_health_checks_match_the_scrape_interval() -> None:
    """`for:` of the health alert = 4 scrape intervals: it fires at the 5th failed scrape in a row."""
    import yaml

    interval = _seconds(yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["global"]["scrape_interval"])
    rule = next(r for r in alert_rules() if r.get("alert") == "AutoglmHealthChecksFailing")
    assert _seconds(rule["for"]) == 4 * interval, (rule["for"], interval)
    assert "up{" in rule["expr"] and "== 0" in rule["expr"]
