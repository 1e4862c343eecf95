"""Summarise a py-spy raw profile (`py-spy record --subprocesses --format raw`) of one process: the share of its
samples in which each function is on the stack (inclusive), highest first.

Usage: python bench/profiles/summarise.py PROFILE.txt [--process 'edge run'] [--top 40]
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

FRAME = re.compile(r"(.*?) \((?:.*site-packages/|.*lib/python3\.\d+/|.*/main/)?(.*?):\d+\)")


def summarise(path: Path, process: str, top: int) -> list[str]:
    """Inclusive shares of `process`'s samples per function (a function counted once per sample)."""
    total, inclusive = 0, collections.Counter[str]()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        parts = stack.split(";")
        if len(parts) < 3 or process not in parts[1] or not count.isdigit():
            continue
        total += int(count)
        seen = set()
        for frame in parts[2:]:
            m = FRAME.match(frame)
            key = f"{m.group(1)} ({m.group(2)})" if m else frame
            if key not in seen:
                seen.add(key)
                inclusive[key] += int(count)
    lines = [f"samples of '{process}': {total}"]
    lines += [f"{n / total * 100:5.1f}%  {key}" for key, n in inclusive.most_common(top)] if total else []
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--process", default="edge run", help="text in the process's command line")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    print("\n".join(summarise(args.profile, args.process, args.top)))


if __name__ == "__main__":
    main()
