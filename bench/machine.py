"""Where a benchmark ran: CPU model, cores, memory, OS, Python, GPU and the versions of the libraries it depends on.

`autoglm bench all` records it once in bench/results.json; each bench script records it beside its own figures.
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.reliability.procs import cpu_model

LIBRARIES = ("torch", "onnxruntime", "transformers", "paho-mqtt", "fastapi")


def gpu_name() -> str | None:
    """The first NVIDIA GPU's name, from `nvidia-smi -L` (None without one)."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = out.stdout.strip().splitlines()[:1]
    return first[0] if out.returncode == 0 and first and first[0].startswith("GPU") else None


def memory_gb() -> float | None:
    """Total memory from /proc/meminfo (None off Linux)."""
    try:
        lines = Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    kb = next((int(line.split()[1]) for line in lines if line.startswith("MemTotal:")), None)
    return round(kb / 1024**2, 1) if kb is not None else None


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python, GPU and the versions of the libraries the figures depend on."""
    libraries: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            libraries[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libraries[name] = None
    libraries["sqlite"] = sqlite3.sqlite_version
    return {"cpu_model": cpu_model() or platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "memory_gb": memory_gb(), "os": platform.platform(), "python": platform.python_version(),
            "gpu": gpu_name(), "libraries": libraries}
