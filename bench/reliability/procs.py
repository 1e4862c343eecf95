"""Real processes for the reliability scenarios: a Mosquitto broker and an edge daemon that can be killed.

`Mosquitto` runs the system's mosquitto with a config of its own (persistence, ACL and password files as a
scenario needs) and can be stopped with SIGTERM, killed with SIGKILL and started again on the same port.
`EdgeProcess` runs `autoglm edge run` with a settings file in a child process, so `kill()` is a real `kill -9`;
`integrity` checks each of its database files (`DB_FILES`) after a kill. `until` and `wait_until` poll.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[2]


def cpu_model() -> str | None:
    """The CPU's marketing name on Linux (platform.processor() only says x86_64 there)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    """Poll `predicate` every 50 ms; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """`wait_until` for a coroutine: poll every 10 ms; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts connections on `host:port`; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def mosquitto_binary() -> str:
    """The mosquitto executable; RuntimeError (with the install hint) when there is none."""
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)
    if found is None:
        raise RuntimeError("mosquitto is not installed (apt-get install mosquitto): the broker scenarios need it")
    return found


class Mosquitto:
    """A Mosquitto broker in `workdir` on a fixed port, restartable; `extra` lines are appended to its config."""

    def __init__(self, workdir: Path, *, persistence: bool = True, extra: str = "", port: int | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = port or free_port()
        self.conf = workdir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "max_queued_messages 100000", "max_inflight_messages 100",
                 "message_size_limit 2097152", "set_tcp_nodelay true"]
        if "allow_anonymous" not in extra:
            lines.append("allow_anonymous true")
        if "\nuser " not in f"\n{extra}":  # a root-started broker must stay root to write its files (keep_user)
            lines.append(keep_user())
        if persistence:
            lines += ["persistence true", f"persistence_location {workdir}/", "autosave_interval 1"]
        else:
            lines.append("persistence false")
        self.conf.write_text("\n".join(lines) + "\n" + extra + "\n", encoding="utf-8")
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (or start again) and wait until it accepts connections."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.conf)], stdout=log, stderr=log)
        try:
            wait_for_port(self.port)
        except TimeoutError:
            raise RuntimeError(f"mosquitto did not start: {self.log.read_text(errors='replace')[-800:]}") from None

    def terminate(self) -> None:
        """SIGTERM: Mosquitto saves its persistence file and exits."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: nothing saved since the last autosave."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.terminate()


def toml_value(value: Any) -> str:
    """A TOML value for the settings file (JSON's strings, numbers and booleans are TOML's; TOML has no null)."""
    if value is None:
        raise ValueError("TOML has no null: leave the setting out, or give an empty directory for model_dir")
    if isinstance(value, Path):
        value = str(value)
    return json.dumps(value)


def settings_toml(settings: dict[str, Any], table: str = "edge") -> str:
    """A nested dict as TOML tables under `[edge]`."""
    scalars = [f"{k} = {toml_value(v)}" for k, v in settings.items() if not isinstance(v, dict)]
    out = [f"[{table}]", *scalars, ""]
    for key, value in settings.items():
        if isinstance(value, dict):
            out.append(settings_toml(value, f"{table}.{key}"))
    return "\n".join(out)


def rss_kb(pid: int) -> int:
    """A process's resident memory (VmRSS) in KiB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS line in /proc/{pid}/status")


class ChildProcess:
    """An `autoglm` command in a child process, with `settings` written to `<name>.toml` under `[<name>]`; its
    output goes to `<name>.log`. `kill()` is a real `kill -9`; `terminate()` is Ctrl-C's clean shutdown.

    `entry` is the module run as `autoglm` (`python -m <entry>`): a negative control names one that builds the same
    command with a safeguard switched off (bench/reliability/early_ack_edge.py)."""

    def __init__(self, workdir: Path, name: str, settings: dict[str, Any], *, log_level: str = "warning",
                 entry: str = "autoglm.cli") -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.entry = entry
        self.workdir = workdir
        self.config = workdir / f"{name}.toml"
        self.config.write_text(settings_toml(settings, name), encoding="utf-8")
        self.log = workdir / f"{name}.log"
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """`python -m <entry> <args> --config <file> --log-level <level>`, the environment's own settings left out."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN_AUTOGLM_")}  # the file decides
        env["PYTHONPATH"] = str(ROOT)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.entry, *args, "--config", str(self.config),
                 "--log-level", self.log_level], stdout=log, stderr=log, cwd=ROOT, env=env)
        self.starts += 1
        return self.proc

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kb(self) -> int:
        """The process's VmRSS in KiB."""
        assert self.proc is not None
        return rss_kb(self.proc.pid)

    def kill(self) -> None:
        """`kill -9`: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def terminate(self, timeout: float = 15.0) -> None:
        """SIGINT (Ctrl-C's clean shutdown path), SIGKILL if it does not exit in `timeout`."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def start(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.terminate()


class EdgeProcess(ChildProcess):
    """`autoglm edge run` in a child process, with `settings` (the `[edge]` table) written to a TOML file."""

    def __init__(self, workdir: Path, settings: dict[str, Any], *, log_level: str = "warning",
                 entry: str = "autoglm.cli") -> None:
        super().__init__(workdir, "edge", settings, log_level=log_level, entry=entry)

    def start(self) -> None:
        """Start the daemon (it connects in the background; wait on what the scenario observes)."""
        self._spawn("edge", "run")


#: Every database file an edge keeps in its data directory (what `integrity` checks after a kill).
DB_FILES = ("edge.db", "outbox.db", "decisions.db")


def integrity(path: Path) -> str:
    """`PRAGMA integrity_check` of one file, "ok" when SQLite finds nothing wrong."""
    try:
        conn = sqlite3.connect(path, timeout=30)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"cannot check: {exc}"
    return "ok" if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:5])


class CloudProcess(ChildProcess):
    """`autoglm cloud serve` (uvicorn) in a child process, with `settings` (the `[cloud]` table) in a TOML file.

    `rss_kb()` reads the server's resident memory from /proc, so a scenario can show that it stays bounded.
    """

    def __init__(self, workdir: Path, settings: dict[str, Any], *, log_level: str = "warning") -> None:
        self.port = int(settings.get("port") or free_port())
        super().__init__(workdir, "cloud", {**settings, "port": self.port}, log_level=log_level)

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        """Start the server and wait until it accepts connections (the planner model loads first unless lazy)."""
        proc = self._spawn("cloud", "serve", "--host", "127.0.0.1")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"cloud server exited: {self.log.read_text(errors='replace')[-1500:]}")
            try:
                wait_for_port(self.port, timeout=0.5)
                return
            except TimeoutError:
                continue
        self.terminate()
        raise RuntimeError(f"cloud server did not listen within {timeout:g}s: "
                           f"{self.log.read_text(errors='replace')[-1500:]}")


def keep_user() -> str:
    """Config line that keeps a root-started Mosquitto as root: by default it drops to the `mosquitto` user, which
    cannot write persistence to (or read password files in) a private temporary directory."""
    return "user root" if os.geteuid() == 0 else ""
