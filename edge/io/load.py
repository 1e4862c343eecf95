"""The edge's load signals in production: CPU busy share of this host and p95 of recent decision latencies."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from edge.config import LoadSample, PolicySettings

try:  # psutil is optional (amqtt pulls it in today); /proc/stat does the same job on Linux
    import psutil  # type: ignore[import-untyped, unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    psutil = None

log = logging.getLogger(__name__)

#: Monotonic seconds; injectable so tests move time by hand.
Clock = Callable[[], float]
#: Cumulative (idle, total) CPU time since boot, any unit; None when the platform cannot say.
CpuTimes = Callable[[], tuple[float, float] | None]
#: Linux's system-wide CPU counters (host-wide: a cgroup CPU quota is not reflected).
PROC_STAT = Path("/proc/stat")


class LatencyWindow:
    """Nearest-rank percentiles over recent latencies: at most `size`, none older than `max_age_s`."""

    def __init__(self, size: int = 200, max_age_s: float = 60.0, min_samples: int = 20,
                 clock: Clock = time.monotonic) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=size)  # (when, ms), oldest first
        self._max_age_s = max_age_s
        self._min_samples = min_samples
        self._clock = clock

    def record(self, ms: float) -> None:
        """Add one latency; a negative or non-finite one is a measuring bug and is dropped."""
        if math.isfinite(ms) and ms >= 0:
            self._samples.append((self._clock(), ms))

    def percentile(self, q: float) -> float | None:
        """The q-quantile (0 < q <= 1) of the window, or None below `min_samples`."""
        # Ageing out matters: while low work is shed nothing new is recorded, and a stale p95 would shed forever.
        cutoff = self._clock() - self._max_age_s
        while self._samples and self._samples[0][0] < cutoff:
            self._samples.popleft()
        if len(self._samples) < self._min_samples:
            return None
        values = sorted(ms for _, ms in self._samples)
        rank = max(1, math.ceil(q * len(values) - 1e-9))  # the epsilon keeps 0.95 * 100 at rank 95
        return values[rank - 1]


def _psutil_times() -> tuple[float, float]:
    t = psutil.cpu_times()
    idle = float(t.idle) + float(getattr(t, "iowait", 0.0))
    # guest time is already inside user/nice on Linux
    total = float(sum(t)) - float(getattr(t, "guest", 0.0)) - float(getattr(t, "guest_nice", 0.0))
    return idle, total


def _proc_stat_times(path: Path = PROC_STAT) -> tuple[float, float]:
    # "cpu  user nice system idle iowait irq softirq steal guest guest_nice"; guest is counted in user already
    fields = [float(v) for v in path.read_text().split("\n", 1)[0].split()[1:9]]
    return fields[3] + fields[4], sum(fields)


def system_cpu_times(proc_stat: Path = PROC_STAT) -> CpuTimes:
    """The platform's CPU time reader: psutil when installed, else /proc/stat, else one that knows nothing."""
    if psutil is not None:
        return _psutil_times
    if proc_stat.is_file():
        return functools.partial(_proc_stat_times, proc_stat)
    log.warning("no CPU reading on this platform (install psutil): CPU rules will not fire")
    return lambda: None


class SystemLoad:
    """Load signals of this host: CPU busy share between refreshes, and p95 of recent decision latencies."""

    def __init__(self, settings: PolicySettings | None = None, *, clock: Clock = time.monotonic,
                 cpu_times: CpuTimes | None = None) -> None:
        s = settings or PolicySettings()
        self._refresh_s = s.cpu_refresh_s
        self._clock = clock
        self._cpu_times = cpu_times or system_cpu_times()
        self._latency = LatencyWindow(s.latency_window, s.latency_max_age_s, s.latency_min_samples, clock)
        self._cpu: float | None = None
        self._failed = False
        self._last = self._read()  # the baseline the first refresh measures against
        self._refreshed_at = clock()

    def record_latency(self, ms: float) -> None:
        """Add one decision's pipeline latency (queue wait excluded) to the p95 window."""
        self._latency.record(ms)

    def sample(self) -> LoadSample:
        """Cached CPU (refreshed when older than `cpu_refresh_s`) and the current p95; never blocks."""
        if self._clock() - self._refreshed_at >= self._refresh_s:
            self.refresh()
        return LoadSample(cpu=self._cpu, p95_latency_ms=self._latency.percentile(0.95))

    def refresh(self) -> None:
        """Measure CPU since the last refresh (a procfs read: microseconds, fine on the event loop)."""
        now = self._read()
        if now is not None and self._last is not None:
            idle, total = now[0] - self._last[0], now[1] - self._last[1]
            if total > 0:  # no tick elapsed: keep the previous reading rather than divide by zero
                self._cpu = min(max(1.0 - idle / total, 0.0), 1.0)
        self._last = now if now is not None else self._last
        self._refreshed_at = self._clock()

    async def run(self) -> None:
        """Refresh every `cpu_refresh_s` until cancelled, so a request after a quiet spell sees current CPU."""
        while True:
            await asyncio.sleep(self._refresh_s)
            self.refresh()

    def _read(self) -> tuple[float, float] | None:
        try:
            return self._cpu_times()
        except Exception as exc:  # psutil's, the OS's or a parse error: one boundary, CPU becomes unknown
            if not self._failed:
                log.warning("cannot read CPU times; CPU rules will not fire", extra={"error": str(exc)})
                self._failed = True
            return None
