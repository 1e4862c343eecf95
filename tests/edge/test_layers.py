"""The edge's layers contract (pyproject.toml) holds, and breaks when a layer imports an adapter or config stops
being a leaf: the same contract run over a copy of the code with one forbidden import added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")
CONTRACT = "edge layers"


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), "--no-cache", "--config", str(tree / "pyproject.toml")], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)


def copy_tree(tmp: Path) -> Path:
    tree = tmp / "tree"
    ignore = shutil.ignore_patterns("__pycache__", "models", "*.onnx", "*.pyc")
    for package in ("shared", "edge", "cloud", "autoglm"):
        shutil.copytree(ROOT / package, tree / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def add_import(path: Path, line: str) -> None:
    text = path.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    path.write_text(f"{head}{sep}{line}\n{rest}")


def test_the_layers_contract_holds_on_the_code_and_breaks_on_forbidden_imports(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    clean = lint(tree)
    assert clean.returncode == 0 and f"{CONTRACT}" in clean.stdout, clean.stdout[-2000:]
    add_import(tree / "edge" / "decision" / "pipeline.py", "import edge.io.mqtt  # an adapter below the root")
    add_import(tree / "edge" / "config.py", "import edge.guard.policy  # config must stay a leaf")
    add_import(tree / "edge" / "devices" / "executor.py", "import edge.decision.replies  # a lower layer upwards")
    broken = lint(tree)
    assert broken.returncode == 1, broken.stdout[-2000:]
    out = " ".join(broken.stdout.split())
    for violation in ("edge.decision.pipeline -> edge.io.mqtt", "edge.config -> edge.guard.policy",
                      "edge.devices.executor -> edge.decision.replies"):
        assert violation in out, out[-3000:]
