"""bench/storage.py runs with tiny counts and prints a sane JSON summary (rates are not checked: timing is noisy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("outbox_commits_per_s", "cache_reads_per_s", "sqlite_wal_normal_commits_per_s",
        "sqlite_wal_full_commits_per_s", "outbox_vs_wal_full_ratio")


def test_storage_bench_prints_every_rate(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "storage.py"), "--commits", "50", "--reads", "200",
                           "--repeats", "1", "--dir", str(tmp_path)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in KEYS:
        assert isinstance(summary[key], int | float) and summary[key] > 0, key
    ratio = summary["outbox_commits_per_s"] / summary["sqlite_wal_full_commits_per_s"]
    assert abs(summary["outbox_vs_wal_full_ratio"] - ratio) < 0.01
    assert summary["commits"] == 50 and summary["reads"] == 200
    assert summary["outbox_commits_per_s_spread"]["min"] <= summary["outbox_commits_per_s_spread"]["max"]
    assert list(tmp_path.iterdir()) == []  # its files are cleaned up
