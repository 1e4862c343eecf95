"""The `autoglm` CLI: every subcommand has --help; bad input gives one clear line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoglm.cli import app
from bench.reliability.procs import free_port

runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [[], ["broker"], ["devices"], ["devices", "simulate"], ["edge"], ["edge", "run"], ["edge", "say"], ["demo"]],
)
def test_every_command_has_help(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_say_without_a_broker_fails_with_one_clear_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "autoglm.cli", "edge", "say", "turn on the light", "--port", str(free_port()),
         "--timeout", "2"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "cannot reach the MQTT broker" in result.stderr
    assert "Traceback" not in result.stderr


def test_edge_run_with_a_broken_settings_file(tmp_path: Path) -> None:
    bad = tmp_path / "edge.toml"
    bad.write_text("[edge]\nedge_id = 'a/b'\n")
    result = subprocess.run([sys.executable, "-m", "autoglm.cli", "edge", "run", "--config", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "edge id" in result.stderr and "Traceback" not in result.stderr


def test_edge_run_keeps_retrying_while_the_broker_is_down(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "OPEN_AUTOGLM_EDGE__MQTT__PORT": str(free_port()),
           "OPEN_AUTOGLM_EDGE__DATA_DIR": str(tmp_path), "OPEN_AUTOGLM_EDGE__HTTP__PORT": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "autoglm.cli", "edge", "run"], stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "mqtt broker unreachable" in line:
                break
        assert any('"level": "warning"' in line and "retrying" in line for line in lines), lines
        assert proc.poll() is None  # a gateway that boots before its broker keeps trying
    finally:
        proc.terminate()
        proc.wait(10)
