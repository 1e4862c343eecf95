"""`autoglm demo`: embedded broker + simulated home + edge in one process, with a prompt or a script."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoglm.broker import embedded_broker
from autoglm.simhome import SimulatedHome
from autoglm.terminal import shown
from edge.config import load_settings
from edge.daemon import EdgeDaemon
from edge.decision.pipeline import detect_language
from edge.say import say
from shared.decision import Decision

if TYPE_CHECKING:
    from autoglm.demo.cloud import DemoCloud

log = logging.getLogger(__name__)

EDGE_ID = "demo"


@dataclass(frozen=True, slots=True)
class Step:
    """One script line: what to say, and what must be true afterwards."""

    line: int
    text: str
    confirmed: bool = False
    outcome: str | None = None
    checks: tuple[tuple[str, str, str], ...] = field(default=())  # (device_id, path, expected)
    cloud: bool = False  # "plan: ..." goes to the cloud planner, not the edge


def parse_script(text: str) -> list[Step]:
    """`utterance => outcome; device.prop=value; ...`; `!confirm` before a line pre-confirms it; `plan:` sends it
    to the cloud planner (the outcome is then the plan's status); # comments."""
    steps = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        said, _, expect = line.partition("=>")
        said = said.strip()
        confirmed = said.startswith("!confirm ")
        if confirmed:
            said = said.removeprefix("!confirm ").strip()
        cloud = said.startswith("plan:")
        said = said.removeprefix("plan:").strip()
        outcome = None
        checks: list[tuple[str, str, str]] = []
        for token in (t.strip() for t in expect.split(";")):
            if not token:
                continue
            if "=" in token:
                target, _, value = token.partition("=")
                device_id, _, path = target.strip().partition(".")
                if not device_id or not path:
                    raise ValueError(f"script line {number}: expected device.property=value, got {token!r}")
                checks.append((device_id, path, value.strip()))
            else:
                outcome = token
        if not said:
            raise ValueError(f"script line {number}: nothing to say")
        steps.append(Step(number, said, confirmed, outcome, tuple(checks), cloud))
    return steps


def _lookup(state: dict[str, Any], path: str) -> Any:
    value: Any = state
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _matches(actual: Any, expected: str) -> bool:
    if actual is None:
        return expected.lower() in ("none", "null")
    try:
        return abs(float(actual) - float(expected)) <= 1e-6
    except (TypeError, ValueError):
        return str(actual).lower() == expected.lower()


@dataclass
class Demo:
    """The running parts."""

    home: SimulatedHome
    edge: EdgeDaemon
    port: int
    cloud: DemoCloud | None = None

    def ask(self, text: str, confirmed: bool = False) -> Decision:
        """Say something to the edge over MQTT, exactly as `autoglm edge say` does."""
        return say(text, edge_id=EDGE_ID, host="127.0.0.1", port=self.port, timeout=15.0, confirmed=confirmed)


@contextlib.asynccontextmanager
async def running_demo(port: int, workdir: Path, *, cloud_port: int | None = None,
                       planner_dir: Path | None = None, train_planner: bool = False) -> AsyncIterator[Demo]:
    """Start broker, simulated home, edge and (with `cloud_port`) the cloud; stop them in reverse order."""
    async with embedded_broker("127.0.0.1", port):
        home = SimulatedHome("127.0.0.1", port, sensor_interval=5.0)
        await asyncio.to_thread(home.start)
        settings = load_settings(None, edge_id=EDGE_ID, data_dir=workdir / "edge",
                                 mqtt={"host": "127.0.0.1", "port": port}, http={"port": 0})
        edge = EdgeDaemon(settings)
        await edge.start(connect_timeout=10)
        runner = asyncio.create_task(edge.run())
        try:
            await _wait_discovered(edge, minimum=len(home.device_ids), timeout=15.0)
            if cloud_port is None:
                yield Demo(home, edge, port)
            else:
                from autoglm.demo.cloud import running_cloud

                async with running_cloud(mqtt_port=port, http_port=cloud_port, workdir=workdir / "cloud",
                                         edge_id=EDGE_ID, planner_dir=planner_dir,
                                         train_planner=train_planner) as cloud:
                    yield Demo(home, edge, port, cloud)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            await edge.stop()
            await asyncio.to_thread(home.stop)


async def _wait_discovered(edge: EdgeDaemon, *, minimum: int, timeout: float) -> None:
    """Until every announced device is known and online, and no new one arrived for 0.3 s."""
    deadline = time.monotonic() + timeout
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        entities = edge.registry.entities()
        if len(entities) != last:
            last, stable_since = len(entities), time.monotonic()
        ready = len(entities) >= minimum and all(e.available for e in entities)
        if ready and time.monotonic() - stable_since >= 0.3:
            return
        await asyncio.sleep(0.05)
    log.warning("not every device was discovered in time", extra={"devices": last})


async def run_script(demo: Demo, steps: list[Step]) -> int:
    """Run every step; returns the number of failed steps."""
    failures = 0
    for step in steps:
        if step.cloud:
            failures += await _cloud_step(demo, step)
            continue
        decision = await asyncio.to_thread(demo.ask, step.text, step.confirmed)
        problems = []
        if step.outcome and decision.outcome.value != step.outcome:
            problems.append(f"outcome {decision.outcome.value}, expected {step.outcome}")
        problems += _check_devices(demo, step)
        mark = "ok  " if not problems else "FAIL"
        print(f"{mark} {decision.latency_ms:7.1f} ms  {step.text}\n     -> [{decision.outcome.value}/"
              f"{decision.source.value if decision.source else '-'}] {shown(decision.reply)}")
        for problem in problems:
            print(f"     !! {problem}")
        failures += bool(problems)
    return failures


def _check_devices(demo: Demo, step: Step) -> list[str]:
    problems = []
    for device_id, path, expected in step.checks:
        actual = _lookup(demo.home.state(device_id), path)
        if not _matches(actual, expected):
            problems.append(f"{device_id}.{path} is {actual!r}, expected {expected}")
    return problems


async def _cloud_step(demo: Demo, step: Step) -> int:
    """One `plan:` line through the cloud planner; 1 when it failed."""
    if demo.cloud is None:
        print(f"FAIL plan: {step.text}\n     !! the demo runs without the cloud (--no-cloud)")
        return 1
    result = await demo.cloud.plan(step.text, language=detect_language(step.text), confirm=step.confirmed)
    problems = [f"plan {result.status}, expected {step.outcome}"] if step.outcome and result.status != step.outcome \
        else []
    problems += _check_devices(demo, step)
    tools = shown(", ".join(f"{s['tool']}({s['args'].get('device_id', '')})" for s in result.steps) or "no steps")
    mark = "ok  " if not problems else "FAIL"
    print(f"{mark} {result.latency_ms:7.1f} ms  plan: {step.text}\n     -> [{result.status}/cloud] {tools}"
          f"{' - ' + shown(result.detail) if result.detail else ''}")
    for problem in problems:
        print(f"     !! {problem}")
    return int(bool(problems))


async def interactive(demo: Demo) -> None:
    """A prompt: type commands in English or Chinese; `devices` lists the home, `quit` leaves."""
    print("Type a command (e.g. 'turn off the kitchen lights', '把客厅的灯打开'); 'devices' lists devices; "
          "'confirm <command>' confirms a sensitive one; 'quit' exits.")
    while True:
        try:
            line = (await asyncio.to_thread(input, "autoglm> ")).strip()
        except EOFError:
            return
        if line in ("quit", "exit"):
            return
        if not line:
            continue
        if line == "devices":
            for d in demo.edge.describe_devices():
                print(shown(f"  {d['device_id']:45} {d['domain']:12} {d['area']!s:12} {d['state']}"))
            continue
        confirmed = line.startswith("confirm ")
        line = line.removeprefix("confirm ")
        if line.startswith("plan ") and demo.cloud is not None:
            text = line.removeprefix("plan ")
            result = await demo.cloud.plan(text, language=detect_language(text), confirm=confirmed)
            print(shown(f"[{result.status}, {result.latency_ms:.0f} ms] " + "; ".join(
                f"{s['id']} {s['tool']} {s['args']}" for s in result.steps) + (f" - {result.detail}" if result.detail
                                                                              else "")))
            continue
        decision = await asyncio.to_thread(demo.ask, line, confirmed)
        print(shown(f"[{decision.outcome.value}, {decision.latency_ms:.0f} ms] {decision.reply}"))


async def run_demo(*, script: Path | None, port: int, workdir: Path | None, cloud_port: int | None = None,
                   planner_dir: Path | None = None, train_planner: bool = False) -> bool:
    """Run the demo; True when every scripted expectation held."""
    started = time.perf_counter()
    steps = parse_script(await asyncio.to_thread(script.read_text, encoding="utf-8")) if script else None
    with tempfile.TemporaryDirectory(prefix="autoglm-demo-") as tmp:
        async with running_demo(port, workdir or Path(tmp), cloud_port=cloud_port, planner_dir=planner_dir,
                                train_planner=train_planner) as demo:
            ready = time.perf_counter() - started
            print(f"demo ready in {ready:.1f} s: broker 127.0.0.1:{port}, {len(demo.edge.registry)} devices, "
                  f"edge http :{demo.edge.http_port}")
            if demo.cloud is not None:
                print(f"cloud API {demo.cloud.url}/docs (operator token: {demo.cloud.token}); "
                      "type 'plan <request>' for the planner")
            if steps is None:
                await interactive(demo)
                return True
            failures = await run_script(demo, steps)
            total = time.perf_counter() - started
            print(f"{len(steps) - failures} passed, {failures} failed ({total:.1f} s in all, "
                  f"{ready:.1f} s to ready)")
            return failures == 0
