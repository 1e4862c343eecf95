"""Load signals: the p95 window on known data, CPU from time deltas, caching, and the policy on real signals."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import pytest

import edge.io.load
from edge.config import Action, PolicySettings
from edge.guard.policy import AdmissionPolicy
from edge.io.load import LatencyWindow, SystemLoad, _proc_stat_times, system_cpu_times
from tests.edge.fakes import FakeClock


class FakeCpu:
    """Cumulative (idle, total) CPU times a test advances by hand."""

    def __init__(self) -> None:
        self.idle = 1000.0
        self.total = 4000.0
        self.calls = 0
        self.error: Exception | None = None

    def __call__(self) -> tuple[float, float]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.idle, self.total

    def spend(self, busy: float, idle: float) -> None:
        self.idle += idle
        self.total += busy + idle


def test_p95_on_known_data() -> None:
    window = LatencyWindow(size=100, min_samples=1, clock=FakeClock())
    values = [float(v) for v in range(1, 101)]
    random.Random(7).shuffle(values)  # order must not matter
    for v in values:
        window.record(v)
    assert window.percentile(0.95) == 95.0  # nearest rank: the 95th of 100
    assert window.percentile(0.5) == 50.0
    assert window.percentile(1.0) == 100.0


@pytest.mark.parametrize(("values", "p95"), [
    ([10.0] * 19 + [1000.0], 10.0),  # one slow request in 20 is the 100th percentile, not the 95th
    ([10.0] * 18 + [1000.0] * 2, 1000.0),  # two in 20 are
    ([5.0, 1.0, 3.0], 5.0),
])
def test_p95_nearest_rank(values: list[float], p95: float) -> None:
    window = LatencyWindow(min_samples=1, clock=FakeClock())
    for v in values:
        window.record(v)
    assert window.percentile(0.95) == p95


def test_p95_needs_min_samples() -> None:
    window = LatencyWindow(min_samples=20, clock=FakeClock())
    for _ in range(19):
        window.record(900.0)
    assert window.percentile(0.95) is None  # one slow start must not throttle the edge
    window.record(900.0)
    assert window.percentile(0.95) == 900.0


def test_window_keeps_the_most_recent() -> None:
    window = LatencyWindow(size=10, min_samples=1, clock=FakeClock())
    for _ in range(10):
        window.record(1000.0)
    for _ in range(10):
        window.record(1.0)
    assert window.percentile(0.95) == 1.0


def test_old_latencies_age_out() -> None:
    clock = FakeClock()
    window = LatencyWindow(max_age_s=60.0, min_samples=2, clock=clock)
    window.record(900.0)
    clock.advance(30)
    window.record(800.0)
    assert window.percentile(0.95) == 900.0
    clock.advance(31)  # the first is now older than 60 s: too few samples left
    assert window.percentile(0.95) is None


def test_bad_latencies_are_dropped() -> None:
    window = LatencyWindow(min_samples=1, clock=FakeClock())
    for bad in (float("nan"), float("inf"), -1.0):
        window.record(bad)
    assert window.percentile(0.95) is None
    window.record(0.0)
    assert window.percentile(0.95) == 0.0


def test_cpu_from_deltas_cached_between_refreshes() -> None:
    clock, cpu = FakeClock(), FakeCpu()
    load = SystemLoad(PolicySettings(cpu_refresh_s=1.0), clock=clock, cpu_times=cpu)
    assert load.sample().cpu is None  # no delta yet
    cpu.spend(busy=90, idle=10)
    clock.advance(0.5)
    assert load.sample().cpu is None and cpu.calls == 1  # not refreshed: only the baseline was read
    clock.advance(0.5)
    assert load.sample().cpu == pytest.approx(0.9)
    cpu.spend(busy=20, idle=80)
    assert load.sample().cpu == pytest.approx(0.9) and cpu.calls == 2  # cached
    clock.advance(1.0)
    assert load.sample().cpu == pytest.approx(0.2)
    clock.advance(1.0)  # no tick since: the previous reading stands
    assert load.sample().cpu == pytest.approx(0.2)


def test_cpu_reader_failure_means_unknown(caplog: pytest.LogCaptureFixture) -> None:
    clock, cpu = FakeClock(), FakeCpu()
    cpu.error = OSError("no /proc")
    with caplog.at_level(logging.WARNING, logger="edge.io.load"):
        load = SystemLoad(clock=clock, cpu_times=cpu)
        for _ in range(3):
            clock.advance(5)
            assert load.sample().cpu is None
    assert [r.message for r in caplog.records].count("cannot read CPU times; CPU rules will not fire") == 1
    cpu.error = None  # a reader that recovers is measured again from its next reading
    clock.advance(5)
    load.sample()
    cpu.spend(busy=50, idle=50)
    clock.advance(5)
    assert load.sample().cpu == pytest.approx(0.5)


def test_proc_stat_parsing(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 10 50 800 40 0 0 0 30 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    assert _proc_stat_times(stat) == (840.0, 1000.0)  # guest (30) already counted in user


def test_without_psutil_proc_stat_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 0 300 0 0 0 0 0 0\n")
    monkeypatch.setattr(edge.io.load, "psutil", None)
    assert system_cpu_times(stat)() == (300.0, 400.0)


def test_without_psutil_or_proc_cpu_is_unknown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(edge.io.load, "psutil", None)
    with caplog.at_level(logging.WARNING, logger="edge.io.load"):
        reader = system_cpu_times(tmp_path / "no-such-file")  # macOS, Windows, a sandbox without /proc
    assert reader() is None
    assert "install psutil" in caplog.text
    clock = FakeClock()
    load = SystemLoad(clock=clock, cpu_times=reader)
    clock.advance(5)
    assert load.sample().cpu is None


def test_the_real_reader_measures_this_host() -> None:
    times = system_cpu_times()()
    assert times is not None
    idle, total = times
    assert 0 <= idle <= total


async def test_run_refreshes_in_the_background() -> None:
    cpu = FakeCpu()
    load = SystemLoad(PolicySettings(cpu_refresh_s=0.01), cpu_times=cpu)
    cpu.spend(busy=3, idle=1)
    task = asyncio.create_task(load.run())
    try:
        for _ in range(200):
            await asyncio.sleep(0.01)
            if cpu.calls >= 3:
                break
    finally:
        task.cancel()
    assert cpu.calls >= 3 and load.sample().cpu == pytest.approx(0.75)


def test_policy_throttles_on_recorded_latency_then_recovers() -> None:
    clock = FakeClock()
    settings = PolicySettings(latency_min_samples=20, latency_max_age_s=60.0)
    load = SystemLoad(settings, clock=clock, cpu_times=lambda: None)
    policy = AdmissionPolicy(settings, load)
    for _ in range(20):
        load.record_latency(80.0)
    assert policy.decide("bob").rule == "default"  # negative control: fast decisions do not throttle
    for _ in range(20):
        load.record_latency(700.0)
    decision = policy.decide("bob")
    assert (decision.action, decision.rule) == (Action.QUEUE, "overload_latency")
    assert decision.load.p95_latency_ms == 700.0
    clock.advance(61)  # nothing recorded since (low work shed): the slow spell must not throttle forever
    assert policy.decide("bob").rule == "default"
