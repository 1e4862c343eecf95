"""The bench suite: every bench script, its arguments, the figures it reports and their goals and anchors.

`autoglm bench all` runs each `Bench` as a child process (`python bench/<script> <args>`), reads the JSON summary on
its last stdout line, and judges each `Figure` on the median over the runs. A goal is a bound (`<= 5`) or a bound
relative to another figure of the same summary (`<= 0.25 x torch_eager_p50_ms`); an anchor is another figure of the
same summary, measured in the same run, that the figure is read beside. No I/O here: pure data and arithmetic.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Op = Literal["<=", ">=", "=="]

#: Replaced, in a bench's arguments, by a fresh temporary directory (for files a script must not write in the repo).
TMP = "{tmp}"


@dataclass(frozen=True)
class Goal:
    """`value op bound`, or `value op bound x <figure of>` when `of` names another figure of the same summary."""

    op: Op
    bound: float
    of: str | None = None
    source: str = "issue 7"

    def limit(self, summary: Mapping[str, Any]) -> float | None:
        """The bound this summary's value is held to (None when `of` is missing from it)."""
        if self.of is None:
            return self.bound
        base = lookup(summary, self.of)
        return None if not isinstance(base, int | float) else self.bound * base

    def met(self, value: float, limit: float) -> bool:
        """Whether `value` keeps the goal."""
        return {"<=": value <= limit, ">=": value >= limit, "==": value == limit}[self.op]

    def text(self) -> str:
        """`<= 5` or `<= 0.25 x torch_eager_p50_ms` (with where the goal comes from)."""
        bound = f"{self.bound:g}" + (f" x `{self.of}`" if self.of else "")
        return f"{self.op} {bound} ({self.source})"


@dataclass(frozen=True)
class Figure:
    """One reported figure: a (dotted) key of the summary; `count` takes the length of a list or mapping."""

    key: str
    label: str
    unit: str = ""
    goal: Goal | None = None
    anchors: tuple[str, ...] = ()
    count: bool = False
    #: What bounds the figure where its goal is missed (from a profile in bench/profiles/): shown only then.
    bounded_by: str = ""

    def value(self, summary: Mapping[str, Any]) -> float | None:
        """This figure's number in one summary (None when absent or not a number)."""
        raw = lookup(summary, self.key)
        if self.count:
            return float(len(raw)) if isinstance(raw, list | dict) else None
        return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


@dataclass(frozen=True)
class Bench:
    """One bench script: what it measures, its arguments (full, quick, and on a CPU when it needs a GPU)."""

    name: str
    script: str
    measures: str
    args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ()
    figures: tuple[Figure, ...] = ()
    anchor_sources: Mapping[str, str] = field(default_factory=dict)
    needs_gpu: bool = False
    cpu_args: tuple[str, ...] = ()
    once: bool = False  # seeded accuracy figures: one run says it all, `--repeat` does not apply
    timeout_s: float = 1800.0


def lookup(summary: Mapping[str, Any], key: str) -> Any:
    """`summary["a"]["b"]` for the key `a.b`; None where a part is missing."""
    node: Any = summary
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def spread(values: Sequence[float]) -> dict[str, float] | None:
    """min / median / max of a figure over the runs (None with no value)."""
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def judge(figure: Figure, summaries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A figure over the runs: its values, min/median/max, its goal's limit and whether the median met it."""
    values = [v for v in (figure.value(s) for s in summaries) if v is not None]
    row: dict[str, Any] = {"label": figure.label, "unit": figure.unit, "values": values, **(spread(values) or {})}
    row["anchors"] = {a: spread([v for v in (lookup(s, a) for s in summaries) if isinstance(v, int | float)])
                      for a in figure.anchors}
    if figure.goal is None:
        row["goal"], row["met"] = None, None
        return row
    limits = [x for x in (figure.goal.limit(s) for s in summaries) if x is not None]
    limit = statistics.median(limits) if limits else None
    row["goal"] = {"text": figure.goal.text(), "op": figure.goal.op, "limit": limit}
    row["met"] = None if limit is None or not values else figure.goal.met(row["median"], limit)
    if row["met"] is False:
        row["missed_by"] = round(abs(row["median"] - limit), 6)
        row["missed_ratio"] = round(row["median"] / limit, 3) if limit else None
        if figure.bounded_by:
            row["bounded_by"] = figure.bounded_by
    return row


def _zero(key: str) -> Figure:
    return Figure(key, f"{key.replace('_', ' ')} (safeguarded scenarios)",
                  goal=Goal("==", 0, source="docs/reliability.md"))


#: What bounds the end-to-end goals this machine misses (measured with py-spy; bench/profiles/README.md).
E2E_CPU = ("the edge's CPU per command. On the model path at 100/s the edge spends 10.6 ms of CPU per command "
           "(measured: 1.065 CPU-seconds per second), all of one core, so it runs at saturation and its latency is "
           "queueing that grows over the phase (the three runs' p50: 35, 525 and 608 ms). Per model-path command "
           "the template stage matches twice with hassil (the normal pass, then the unknown-name pass that lets the "
           "edge say 'there is no garage light'): 27 % of the edge's samples, two thirds of it in the second pass; "
           "ONNX inference is 5 % and paho's network thread 14 %. The template path (8.6 ms p50) is not saturated. "
           "Profile: bench/profiles/e2e_model_pyspy.txt")
CACHE_HIT = ("the fixed cost of a command that skips matching: the MQTT round trips (utterance in, /set out, the "
             "device's state back, the decision out) through paho's network thread and the event loop, plus the "
             "decision record's commit. Profile: bench/profiles/e2e_model_pyspy.txt (same process)")
MAX_RATE = ("the same CPU bound as p50/p99: about 10 ms of edge CPU per template- or model-path command puts one "
            "core's ceiling near 100 commands/s, and the ramp's p99 < 50 ms is lost before it. 500/s would need "
            "about 2 ms per command: batching commands through one hassil pass and one ONNX batch, or a second "
            "process per core")
TWIN_SYNC = ("per-update Python work on each side: the edge parses the state, commits the twin, and builds, "
             "encodes and commits the report (about 0.7 ms of edge CPU per update), and the cloud decodes, "
             "de-duplicates and commits each one (about 0.8 ms), against a raw paho client that only moves "
             "bytes. Both sides commit per message; batching the twin and outbox commits across messages, and "
             "merging updates per transaction in the cloud, is the next step. CPU seconds per side are in the "
             "bench's JSON (cpu_during_sync)")

#: Every bench script of bench/, in the report's order.
SUITE: tuple[Bench, ...] = (
    Bench("e2e_command", "e2e_command.py",
          "a command end to end through a real Mosquitto, the edge and simulated devices as separate processes: "
          "utterance published -> edge decision -> device /set -> reported state confirmed",
          quick_args=("--quick",),
          figures=(Figure("p50_ms", "p50 at 100 commands/s (the worse of template and model)", "ms",
                          Goal("<=", 5), bounded_by=E2E_CPU),
                   Figure("p99_ms", "p99 at 100 commands/s (the worse of template and model)", "ms",
                          Goal("<=", 20), bounded_by=E2E_CPU),
                   Figure("template_p50_ms", "template path p50 at 100/s", "ms"),
                   Figure("template_p99_ms", "template path p99 at 100/s", "ms"),
                   Figure("model_p50_ms", "model path p50 at 100/s", "ms"),
                   Figure("model_p99_ms", "model path p99 at 100/s", "ms"),
                   Figure("cache_hit_p50_ms", "cache hit p50 at 100/s", "ms", Goal("<=", 2),
                          bounded_by=CACHE_HIT),
                   Figure("cache_hit_p99_ms", "cache hit p99 at 100/s", "ms"),
                   Figure("paths.template.1_per_s.p50_ms", "template path p50 at 1/s", "ms"),
                   Figure("paths.model.1_per_s.p50_ms", "model path p50 at 1/s", "ms"),
                   Figure("paths.cache.1_per_s.p50_ms", "cache hit p50 at 1/s", "ms"),
                   Figure("max_commands_per_s", "highest rate one edge sustains with p99 < 50 ms", "commands/s",
                          Goal(">=", 500), bounded_by=MAX_RATE),
                   Figure("edge_rss_mb", "edge RSS under load", "MB", Goal("<=", 150)))),
    Bench("twin_sync", "twin_sync.py",
          "reported-state updates/s from 200 simulated devices through the edge to the cloud (outbox and "
          "de-duplication on), beside raw paho publishing on the same broker in the same run",
          quick_args=("--devices", "20", "--updates", "200", "--timeout", "60"),
          figures=(Figure("sync_updates_per_s", "twin sync updates/s", "updates/s", anchors=("raw_updates_per_s",)),
                   Figure("raw_updates_per_s", "raw paho updates/s (anchor)", "updates/s"),
                   Figure("sync_vs_raw_ratio", "sync / raw paho", "x", Goal(">=", 0.5), bounded_by=TWIN_SYNC),
                   Figure("lost", "updates lost", "", Goal("==", 0))),
          anchor_sources={"raw_updates_per_s": "raw paho-mqtt clients publishing the same updates on the same "
                                               "Mosquitto in the same run"}),
    Bench("storage", "storage.py",
          "edge outbox commits/s and decision-cache reads/s with the shipped settings, beside SQLite's own WAL "
          "single-row commit rates on the same disk",
          quick_args=("--commits", "50", "--reads", "200", "--repeats", "1"),
          figures=(Figure("outbox_commits_per_s", "outbox commits/s (WAL + FULL)", "commits/s",
                          anchors=("sqlite_wal_full_commits_per_s",)),
                   Figure("cache_reads_per_s", "decision-cache reads/s", "reads/s"),
                   Figure("sqlite_wal_full_commits_per_s", "bare SQLite WAL + FULL commits/s (anchor)", "commits/s"),
                   Figure("sqlite_wal_normal_commits_per_s", "bare SQLite WAL + NORMAL commits/s (anchor)",
                          "commits/s"),
                   Figure("outbox_vs_wal_full_ratio", "outbox / bare WAL + FULL", "x")),
          anchor_sources={"sqlite_wal_full_commits_per_s": "bare sqlite3, one single-row INSERT per commit, WAL + "
                                                           "synchronous=FULL, same run, same directory",
                          "sqlite_wal_normal_commits_per_s": "same, synchronous=NORMAL"}),
    Bench("footprint", "footprint.py",
          "memory and start-up from real child processes: edge RSS with the intent model, cloud RSS with the tiny "
          "planner, edge cold start to /readyz, demo start to first answered command",
          quick_args=("--runs", "1", "--demo-runs", "1"),
          figures=(Figure("edge_rss_mb", "edge RSS with the intent model loaded", "MB", Goal("<=", 150)),
                   Figure("edge_cold_start_s", "edge cold start to ready", "s", Goal("<=", 3)),
                   Figure("cloud_rss_mb", "cloud RSS with the tiny planner", "MB"),
                   Figure("demo_first_command_s", "demo start to first command", "s"))),
    Bench("intent_latency", "intent_latency.py",
          "the edge's intent model on one thread: ONNX INT8 beside ONNX FP32, torch eager (same weights) and hassil",
          quick_args=("--repeats", "1"),
          figures=(Figure("ort_int8_p50_ms", "ONNX INT8 p50 (tokenizer included)", "ms",
                          Goal("<=", 1, source="docs/intent-model.md"),
                          anchors=("hassil_p50_ms", "torch_eager_p50_ms", "ort_fp32_p50_ms")),
                   Figure("ort_int8_p50_ms", "ONNX INT8 p50 vs torch eager p50", "ms",
                          Goal("<=", 0.25, of="torch_eager_p50_ms", source="docs/intent-model.md")),
                   Figure("ort_int8_p99_ms", "ONNX INT8 p99", "ms"),
                   Figure("hassil_p50_ms", "hassil p50 (anchor)", "ms"),
                   Figure("torch_eager_p50_ms", "torch eager p50 (anchor; needs the build directory)", "ms"),
                   Figure("edge_rss_mb", "RSS of a process holding the model and HA's templates", "MB",
                          Goal("<=", 150))),
          anchor_sources={"hassil_p50_ms": "hassil, Home Assistant's template matcher, same inputs, same run "
                                           "(intent_latency's own JSON)",
                          "torch_eager_p50_ms": "the same weights in torch eager, same inputs, same run "
                                                "(intent_latency's own JSON; null without the build directory)",
                          "ort_fp32_p50_ms": "the FP32 ONNX export, same run (null without the build directory)"}),
    Bench("decision_cache", "decision_cache.py",
          "a decision-cache hit beside the template + model path it skips, one thread, real SQLite file",
          quick_args=("--repeats", "1"),
          figures=(Figure("cache_hit_p50_ms", "cache hit p50", "ms",
                          anchors=("model_path_p50_ms", "model_stage_only_p50_ms")),
                   Figure("model_path_p50_ms", "template + model path p50 (anchor)", "ms"),
                   Figure("model_stage_only_p50_ms", "model stage alone p50", "ms"),
                   Figure("ratio", "model path / cache hit", "x")),
          anchor_sources={"model_path_p50_ms": "the template and model stages a hit skips, same sentences, same run"}),
    Bench("anomaly", "anomaly.py",
          "behaviour-monitor rules over 14 generated days: injected anomalies caught, false positives",
          quick_args=("--days", "8", "--per-kind", "3"),
          figures=(Figure("bursts_detected", "bursts detected", "", Goal("==", 1, of="bursts_injected",
                                                                          source="all injected")),
                   Figure("sequences_held", "night sequences held", "",
                          Goal("==", 1, of="sequences_injected", source="all injected")),
                   Figure("false_positive_rate", "false-positive rate", ""),
                   Figure("checks_per_s", "monitor checks/s", "checks/s"))),
    Bench("planner_batching", "planner_batching.py",
          "the planner engine on CPU: dynamic batching vs max_batch_size=1 at 1, 8, 32 clients; grammar on vs off",
          quick_args=("--quick", "--requests", "4", "--max-new-tokens", "16"),
          figures=(Figure("batching_speedup_32", "throughput at 32 clients, batching / unbatched", "x",
                          Goal(">=", 4, source="docs/cloud.md")),
                   Figure("batching_speedup_8", "same at 8 clients", "x"),
                   Figure("grammar_speed_ratio", "grammar / free decoding tokens/s", "x",
                          Goal(">=", 0.8, source="docs/cloud.md")),
                   Figure("runs.batched_32.requests_per_s", "batched, 32 clients", "requests/s"))),
    Bench("planner_validity", "planner_validity.py",
          "plans of the shipped tiny planner, 224 varied requests: how many validate for their caller",
          args=("--model", "cloud/models/planner-tiny", "--requests", "224"),
          quick_args=("--requests", "4", "--max-new-tokens", "16"), once=True,
          figures=(Figure("valid_fraction", "plans valid for their caller", "", Goal("==", 1, source="docs/cloud.md")),
                   Figure("distinct_plan_shapes", "distinct plan shapes", ""))),
    Bench("planner_int8_agreement", "planner_int8_agreement.py",
          "the shipped tiny planner in INT8 and bf16, 200 requests: same plan, exact plan, weight bytes",
          args=("--model", "cloud/models/planner-tiny"),
          quick_args=("--model", "cloud/models/planner-tiny", "--requests", "1", "--batch", "2",
                      "--max-new-tokens", "24", "--threads", "1"), once=True,
          figures=(Figure("int8_bf16_same_plan", "INT8 and bf16 give the same plan", "",
                          Goal(">=", 0.95, source="docs/cloud.md")),
                   Figure("weight_bytes_int8", "INT8 weight bytes", "bytes",
                          Goal("<=", 0.55, of="weight_bytes_bf16", source="docs/cloud.md"),
                          anchors=("weight_bytes_bf16",)),
                   Figure("exact_plan_int8", "exact plan, INT8", ""))),
    Bench("planner_gpu", "planner_gpu.py",
          "GLM-4-9B-shaped decoding with random weights on the GPU: bf16 vs INT8 weight-only, batch 1 and 32, "
          "against the card's copy-bandwidth bound",
          quick_args=("--tiny", "--steps", "2"), needs_gpu=True, cpu_args=("--tiny",),
          figures=(Figure("bf16.batch_1.tokens_per_s", "bf16 tokens/s, batch 1", "tokens/s"),
                   Figure("int8.batch_1.tokens_per_s", "INT8 tokens/s, batch 1", "tokens/s",
                          anchors=("int8.batch_1.bound_tokens_per_s",)),
                   Figure("int8.batch_1.fraction_of_bound", "INT8 batch 1, fraction of the bandwidth bound", ""),
                   Figure("int8.batch_32.tokens_per_s", "INT8 tokens/s, batch 32", "tokens/s"),
                   Figure("int8_to_bf16_weight_bytes", "INT8 / bf16 weight bytes", "x",
                          Goal("<=", 0.55, source="docs/cloud.md"))),
          anchor_sources={"int8.batch_1.bound_tokens_per_s": "batch x copy bandwidth (measured in the same run) / "
                                                             "weight bytes read per step"}),
    Bench("reliability_report", "reliability_report.py",
          "the reliability and security scenarios at CI's reduced counts, once (about 3.5 min on 2 cores; "
          "docs/reliability.md has the full run)",
          args=("--out", f"{TMP}/reliability.md"),
          quick_args=("--out", f"{TMP}/reliability.md", "--only", "storage.files_at_start"), once=True,
          figures=(*(_zero(key) for key in ("lost", "double_applied", "crashes", "corrupt_db", "unauthorized_calls",
                                            "api_5xx", "rbac_mismatches", "version_regressions", "lock_errors")),
                   Figure("failures", "failures", "", Goal("==", 0, source="docs/reliability.md"), count=True),
                   Figure("negative_controls", "negative controls run", "", count=True),
                   Figure("seconds", "seconds in all", "s"))),
)


def by_name(names: Sequence[str], suite: Sequence[Bench] = SUITE) -> list[Bench]:
    """The benches named (all when none); KeyError names the unknown ones."""
    known = {b.name: b for b in suite}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(", ".join(unknown))
    return [b for b in suite if not names or b.name in names]
