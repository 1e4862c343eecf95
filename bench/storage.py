"""Edge storage rates beside SQLite's own: outbox commits/s and decision-cache reads/s with the shipped settings.

The anchors are measured in the same run on the same disk (the same temporary directory): a bare sqlite3 table,
one single-row INSERT per commit, in WAL mode with `synchronous=NORMAL` and with `synchronous=FULL`. The outbox
(`edge/io/outbox.py`, WAL + FULL, one transaction per `put`) should come close to the WAL+FULL anchor, since it adds
one INSERT's worth of work plus the overflow bookkeeping. The decision cache is read with `DecisionCache.get` as
shipped (hits: lookup, twin fingerprint, decode, LRU touch at most once a minute), over a set of stored sentences.

Each rate is the median over `--repeats` runs (min and max beside it).

Usage: python bench/storage.py [--commits 2000] [--reads 20000] [--repeats 3] [--dir /path/on/the/disk]
The last line of stdout is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from bench.stats import spread  # noqa: E402
from edge.config import CacheSettings  # noqa: E402
from edge.io.decision_cache import DecisionCache  # noqa: E402
from edge.io.outbox import Outbox  # noqa: E402
from edge.ports import CachedDecision, Versions  # noqa: E402
from shared.decision import DecisionSource  # noqa: E402

#: An uplink message of the usual size (a reported delta envelope of one light is ~300 bytes).
PAYLOAD = json.dumps({"id": "0" * 32, "source": "edge:edge-1", "type": "twin.reported", "ts": "2026-01-01T00:00:00Z",
                      "payload": {"device_id": "light.kitchen", "side": "reported",
                                  "values": {"state": {"value": "ON", "version": 12, "ts": "2026-01-01T00:00:00Z"},
                                             "brightness": {"value": 128, "version": 12,
                                                            "ts": "2026-01-01T00:00:00Z"}}}}).encode()
TOPIC = "autoglm/v1/edges/edge-1/twin/reported"
SENTENCES = 200


def rate(count: int, fn: Callable[[int], object]) -> float:
    """Calls per second of `fn(i)` for i in range(count)."""
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - start)


def bare_sqlite(path: Path, synchronous: str, commits: int) -> float:
    """Single-row commits/s into a bare table, WAL and the given synchronous level (autocommit: one INSERT each)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB)")
        return rate(commits, lambda _i: conn.execute("INSERT INTO t (topic, payload) VALUES (?, ?)", (TOPIC, PAYLOAD)))
    finally:
        conn.close()


def outbox_commits(path: Path, commits: int) -> float:
    """`Outbox.put` per second, as shipped (WAL, synchronous=FULL, default bound)."""
    box = Outbox(path)
    try:
        return rate(commits, lambda _i: box.put(TOPIC, PAYLOAD))
    finally:
        assert len(box) == commits, "the outbox lost a message"
        box.close()


def cache_reads(path: Path, reads: int) -> tuple[float, int]:
    """`DecisionCache.get` hits per second over SENTENCES stored decisions; returns (rate, hits)."""
    twins = {f"light.room_{i}": {"state": "ON", "brightness": i, "linkquality": 80} for i in range(SENTENCES)}
    cache = DecisionCache(path, lambda d: twins.get(d, {}), CacheSettings())
    versions = Versions(template="hassil", model="intent-bench")
    texts = [f"turn on the room {i} light" for i in range(SENTENCES)]
    try:
        for i, text in enumerate(texts):
            cache.put(text, "en", versions, [f"light.room_{i}"],
                      CachedDecision("HassTurnOn", {"name": f"room {i} light"}, DecisionSource.MODEL, confidence=0.9))
        hits_before = cache.hits
        per_s = rate(reads, lambda i: cache.get(texts[i % SENTENCES], "en", versions))
        return per_s, cache.hits - hits_before
    finally:
        cache.close()


def filesystem(path: Path) -> str | None:
    """The filesystem type holding `path` (from /proc/mounts, longest matching mount point)."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return None
    resolved = str(path.resolve())
    best = max((m for m in mounts if len(m) > 2 and resolved.startswith(m[1])), key=lambda m: len(m[1]), default=None)
    return best[2] if best else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, default=2000, help="commits per measurement")
    parser.add_argument("--reads", type=int, default=20000, help="cache reads per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (default: a temporary directory)")
    args = parser.parse_args()

    figures: dict[str, list[float]] = {"outbox": [], "cache": [], "normal": [], "full": []}
    hits = 0
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-storage-") as tmp:
        root = Path(tmp)
        for r in range(args.repeats):  # interleaved, so a noisy moment falls on every figure alike
            figures["normal"].append(bare_sqlite(root / f"normal-{r}.db", "NORMAL", args.commits))
            figures["full"].append(bare_sqlite(root / f"full-{r}.db", "FULL", args.commits))
            figures["outbox"].append(outbox_commits(root / f"outbox-{r}.db", args.commits))
            per_s, got = cache_reads(root / f"decisions-{r}.db", args.reads)
            figures["cache"].append(per_s)
            hits += got
        fs = filesystem(root)
    if hits != args.reads * args.repeats:
        sys.exit(f"error: {args.reads * args.repeats - hits} cache reads missed; the cache bench measures hits")
    med = {k: statistics.median(v) for k, v in figures.items()}
    summary: dict[str, Any] = {
        "outbox_commits_per_s": round(med["outbox"], 1),
        "cache_reads_per_s": round(med["cache"], 1),
        "sqlite_wal_normal_commits_per_s": round(med["normal"], 1),
        "sqlite_wal_full_commits_per_s": round(med["full"], 1),
        "outbox_vs_wal_full_ratio": round(med["outbox"] / med["full"], 3),
        "outbox_commits_per_s_spread": spread(figures["outbox"], 1),
        "cache_reads_per_s_spread": spread(figures["cache"], 1),
        "sqlite_wal_normal_spread": spread(figures["normal"], 1),
        "sqlite_wal_full_spread": spread(figures["full"], 1),
        "commits": args.commits, "reads": args.reads, "repeats": args.repeats, "payload_bytes": len(PAYLOAD),
        "machine": machine() | {"filesystem": fs},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
