"""What deploy/ names, read at test time: dashboard queries, alert rules, metric names, promtool."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"

#: Our metric families start with autoglm_edge_, autoglm_cloud_ or autoglm_planner_ (DESIGN.md §1); the one exempt
#: group: GPU metrics only the NVIDIA DCGM exporter exports, which need a GPU to exist.
DCGM_PREFIX = "DCGM_FI_"
METRIC_RE = re.compile(r"\b(?:autoglm_(?:edge|cloud|planner)_[a-z0-9_]+|DCGM_FI_[A-Z0-9_]+)\b")
#: Grafana variables and what the tests put in their place: every edge and cloud ("All"), and a rate window that
#: covers the live test's whole traffic (Grafana makes $__rate_interval at least 4 scrape intervals).
GRAFANA_VARS = {"$__rate_interval": "1m", "$edge": ".*", "$cloud": ".*"}


@dataclass(frozen=True)
class PanelQuery:
    """One target of one dashboard panel."""

    dashboard: str
    panel: str
    expr: str

    @property
    def where(self) -> str:
        """For messages."""
        return f"{self.dashboard} / {self.panel!r}"


def promtool() -> str:
    """The promtool binary; fails (not skips) with the fix when it is missing."""
    found = shutil.which("promtool") or next((p for p in ("/usr/bin/promtool",) if Path(p).exists()), None)
    assert found, "promtool is missing: install Debian/Ubuntu's `prometheus` package (apt-get install -y prometheus)"
    return found


def prometheus_binary() -> str:
    """The prometheus server binary; fails with the fix when it is missing."""
    found = shutil.which("prometheus") or next((p for p in ("/usr/bin/prometheus",) if Path(p).exists()), None)
    assert found, "prometheus is missing: install Debian/Ubuntu's `prometheus` package (apt-get install -y prometheus)"
    return found


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard JSON by file name."""
    return {p.name: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))}


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for panel in panels:
        out.append(panel)
        out += _panels(panel.get("panels", []))  # rows hold their collapsed panels
    return out


def panel_queries() -> list[PanelQuery]:
    """Every PromQL target of every dashboard panel."""
    return [PanelQuery(name, panel.get("title", "?"), target["expr"])
            for name, board in dashboards().items() for panel in _panels(board.get("panels", []))
            for target in panel.get("targets", []) if target.get("expr")]


def substitute(expr: str) -> str:
    """A panel query with the Grafana variables replaced, as Prometheus would receive it."""
    for name, value in sorted(GRAFANA_VARS.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unknown Grafana variable left in {expr!r}"
    return expr


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of every file in deploy/prometheus/rules/."""
    rules = []
    for path in sorted((PROMETHEUS / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += group["rules"]
    return rules


def metric_names(text: str) -> set[str]:
    """Our and DCGM metric names (series names, with _total/_bucket/... suffixes) mentioned in `text`."""
    return set(METRIC_RE.findall(text))


def exempt(name: str) -> bool:
    """DCGM GPU metrics: exported by NVIDIA's exporter, not by our code, and only with a GPU."""
    return name.startswith(DCGM_PREFIX)
