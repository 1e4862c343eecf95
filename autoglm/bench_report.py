"""docs/performance.md from bench/results.json: the machine, then per script a table of figures (min, median, max
over the runs) beside their goals and anchors, the missed goals with by how much, and what failed to run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STATUS = {"ok": "ran", "failed": "**failed**", "missing": "**missing**",
          "needs-gpu": "needs a GPU (ran its CPU mode; not counted as passing)"}


def fmt(value: object) -> str:
    """A figure for a table: thousands separated, small numbers to 4 significant digits; n/a for none."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4g}"


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _goal_cell(row: Mapping[str, Any]) -> str:
    parts = []
    if row.get("goal"):
        limit = row["goal"]["limit"]
        of = "" if "`" not in row["goal"]["text"] else f" (= {fmt(limit)})"
        parts.append(f"goal {cell(row['goal']['text'])}{of}")
    for key, spread in (row.get("anchors") or {}).items():
        parts.append(f"beside `{key}` {fmt(spread['median']) if spread else 'n/a'}")
    return "; ".join(parts) or "—"


def _met_cell(row: Mapping[str, Any]) -> str:
    if not row.get("goal"):
        return "—"
    return {True: "yes", False: "**no**", None: "not judged"}[row.get("met")]


def missed_line(name: str, row: Mapping[str, Any]) -> str:
    """`name` figure: median vs goal, and by how much."""
    unit = f" {row['unit']}" if row.get("unit") and row["unit"] != "x" else ""
    ratio = f", {row['missed_ratio']:g}x the bound" if row.get("missed_ratio") is not None else ""
    bound = f". What bounds it: {cell(row['bounded_by'])}" if row.get("bounded_by") else ""
    return (f"- `{name}` {cell(row['label'])} (`{row['key']}`): median {fmt(row['median'])}{unit} against "
            f"{cell(row['goal']['text'])} = {fmt(row['goal']['limit'])}{unit}: off by "
            f"{fmt(row['missed_by'])}{unit}{ratio}{bound}")


def _section(name: str, entry: Mapping[str, Any]) -> list[str]:
    runs = entry.get("runs", [])
    seconds = ", ".join(f"{r['seconds']:.1f}" for r in runs)
    lines = [f"### {name}", "", f"`{' '.join(['python', entry['script'], *entry['args']])}`", "",
             f"Measures {cell(entry['measures'])}. {STATUS.get(entry['status'], entry['status'])}: "
             f"{len(runs)} run(s) ({seconds or 'none'} s), {entry['date'][:10]}.", ""]
    if entry.get("note"):
        lines += [f"Note: {cell(entry['note'])}", ""]
    if entry.get("figures") and any(row.get("values") for row in entry["figures"]):
        lines += ["| figure | min | median | max | goal / anchor | met? |", "| --- | --- | --- | --- | --- | --- |"]
        for row in entry["figures"]:
            unit = f" ({row['unit']})" if row.get("unit") else ""
            lines.append(f"| {cell(row['label'])}{unit} `{row['key']}` | {fmt(row.get('min'))} | "
                         f"{fmt(row.get('median'))} | {fmt(row.get('max'))} | {_goal_cell(row)} | {_met_cell(row)} |")
        lines.append("")
    for key, source in (entry.get("anchor_sources") or {}).items():
        lines.append(f"- anchor `{key}`: {cell(source)}")
    return [*lines, ""] if entry.get("anchor_sources") else lines


def markdown(results: Mapping[str, Any]) -> str:
    """The whole page."""
    m, benches = results["machine"], results["benches"]
    libs = ", ".join(f"{k} {v or 'not installed'}" for k, v in m["libraries"].items())
    judged = [row for e in benches.values() for row in e.get("figures", []) if row.get("met") is not None]
    missed = [(n, row) for n, e in benches.items() for row in e.get("figures", []) if row.get("met") is False]
    broken = [(n, e) for n, e in benches.items() if e["status"] in ("failed", "missing")]
    lines = ["# Performance", "",
             f"Written by `{results['command']}` on {results['date'][:10]} ({results['seconds']:g} s in all); "
             "the figures and the machine are in [bench/results.json](../bench/results.json).", ""]
    if results.get("quick"):
        lines += ["**Quick mode: tiny counts that check the scripts run. These are not measurements.**", ""]
    lines += ["| machine | |", "| --- | --- |", f"| CPU | {cell(m['cpu_model'])}, {m['cores']} cores |",
              f"| memory | {fmt(m['memory_gb'])} GB |", f"| GPU | {cell(m['gpu'] or 'none')} |",
              f"| OS | {cell(m['os'])} |", f"| Python | {m['python']} |", f"| libraries | {cell(libs)} |",
              f"| load average (1, 5, 15 min) at start / end | {_load(results, 'start')} / {_load(results, 'end')} |",
              "",
              f"Each script ran {results['repeat']} time{'s' if results['repeat'] != 1 else ''}, one at a time "
              "(seeded accuracy benches once); each figure "
              "is min / median / max over the runs, and a goal is judged on the median. An anchor is measured in the "
              "same run as the figure beside it; where each anchor comes from is listed under its table.", "",
              f"Goals met: {sum(1 for row in judged if row['met'])} of {len(judged)} judged. Scripts: "
              + ", ".join(f"{n} {STATUS.get(e['status'], e['status'])}" for n, e in benches.items()) + ".", "",
              "## Missed goals", "", *([missed_line(n, row) for n, row in missed] or ["None."]), ""]
    if broken:
        lines += ["## Scripts that failed or are missing", ""]
        for name, entry in broken:
            errors = [r for r in entry.get("runs", []) if not r["ok"]]
            lines += [f"- `{name}` ({entry['script']}): {entry['status']}"
                      + (f", {errors[0]['error']}" if errors else ""), ""]
            if errors and errors[0].get("stderr_tail"):
                tail = errors[0]["stderr_tail"].replace("~~~", "~ ~ ~")
                lines += ["~~~text", tail.rstrip(), "~~~", ""]
    lines += ["## Scripts", ""]
    for name, entry in benches.items():
        lines += _section(name, entry)
    return "\n".join(lines).rstrip() + "\n"


def _load(results: Mapping[str, Any], when: str) -> str:
    values = results.get(f"load_average_{when}") or []
    return ", ".join(f"{v:.2f}" for v in values) or "n/a"
