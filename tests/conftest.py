"""Shared fixtures: a real MQTT broker per test (Mosquitto, else the embedded amqtt broker)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.reliability.procs import free_port, wait_for_port

_FALLBACK_NOTES: list[str] = []


@dataclass(frozen=True)
class BrokerInfo:
    """Where a test broker listens, and which implementation it is."""

    host: str
    port: int
    kind: str  # "mosquitto" or "amqtt"


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


class _Mosquitto:
    def __init__(self, binary: str, workdir: Path) -> None:
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 10000\nmessage_size_limit 2097152\nset_tcp_nodelay true\n"
        )
        self.binary = binary
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=log, stderr=log)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class _Amqtt:
    """The embedded broker on its own loop in a thread, for machines without Mosquitto."""

    def __init__(self) -> None:
        self.port = free_port()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from autoglm.broker import embedded_broker

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with embedded_broker("127.0.0.1", self.port):
                await self._stop.wait()

        asyncio.run(main())

    def start(self) -> None:
        self._thread.start()
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerInfo]:
    """A fresh broker for one test: Mosquitto on a free port with its own config, else amqtt."""
    binary = mosquitto_binary()
    server: _Mosquitto | _Amqtt
    if binary:
        server = _Mosquitto(binary, tmp_path)
        kind = "mosquitto"
    else:
        server = _Amqtt()
        kind = "amqtt"
        if not _FALLBACK_NOTES:
            _FALLBACK_NOTES.append("mosquitto not found: MQTT tests ran against the embedded amqtt broker")
    server.start()
    try:
        yield BrokerInfo("127.0.0.1", server.port, kind)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def torch_one_thread() -> Iterator[None]:
    """Tiny models run fastest on one torch thread, and two OpenMP threads crawl when the cores are shared.

    Modules use it with `pytestmark = pytest.mark.usefixtures("torch_one_thread")`."""
    import torch  # only the modules that ask for it pay for torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for note in _FALLBACK_NOTES:
        terminalreporter.write_line(f"NOTE: {note}", yellow=True)
    if not _FALLBACK_NOTES and mosquitto_binary():
        terminalreporter.write_line("MQTT tests used a real Mosquitto broker")
