"""Circuit breaker: opening at the failure rate, timeouts, fail-fast, half-open probes, the sliding window."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import ValidationError

from edge.config import BreakerSettings
from edge.io.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from edge.ports import CloudRejectedError, counts_against_cloud
from shared.errors import AutoGLMError, TransportError
from tests.edge.fakes import FakeClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class PeerDown(RuntimeError):
    pass


async def ok() -> str:
    return "ok"


async def boom() -> str:
    raise PeerDown("down")


def breaker(clock: FakeClock, transitions: list[tuple[BreakerState, BreakerState]] | None = None, /,
            **settings: float) -> CircuitBreaker:
    listener = (lambda old, new: transitions.append((old, new))) if transitions is not None else None
    return CircuitBreaker(BreakerSettings(**settings), name="test", clock=clock, on_state_change=listener)


async def fail(b: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(PeerDown):
            await b.call(boom)


async def succeed(b: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        assert await b.call(ok) == "ok"


async def opened(clock: FakeClock, **settings: float) -> CircuitBreaker:
    b = breaker(clock, minimum_calls=1, window_size=1, **settings)
    await fail(b)
    assert b.state is OPEN
    return b


def test_defaults() -> None:
    s = BreakerSettings()
    assert (s.call_timeout_s, s.failure_rate_threshold, s.window_size, s.minimum_calls, s.open_s,
            s.half_open_probes) == (0.8, 0.5, 20, 5, 5.0, 1)


def test_minimum_calls_must_fit_in_the_window() -> None:
    with pytest.raises(ValidationError, match="minimum_calls"):
        BreakerSettings(minimum_calls=21, window_size=20)


async def test_stays_closed_until_minimum_calls_then_opens() -> None:
    b = breaker(FakeClock())
    await fail(b, 4)
    assert b.state is CLOSED and b.failure_rate is None  # 100% failures, but only 4 of the 5 calls needed
    await fail(b)
    assert b.state is OPEN


async def test_opens_exactly_at_the_threshold() -> None:
    b = breaker(FakeClock(), window_size=10)
    await succeed(b, 3)
    await fail(b, 2)
    assert b.state is CLOSED and b.failure_rate == pytest.approx(0.4)
    await fail(b)
    assert b.state is OPEN  # 3 of 6 = 0.5


async def test_a_success_that_reaches_minimum_calls_can_open_it() -> None:
    b = breaker(FakeClock())
    await fail(b, 4)
    await succeed(b)
    assert b.state is OPEN  # 4 of 5 failed: the window, not the last call, decides


async def test_timeout_counts_as_failure() -> None:
    b = breaker(FakeClock(), minimum_calls=2, window_size=2, call_timeout_s=0.02)

    async def hang() -> str:
        await asyncio.sleep(5)
        return "late"

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await b.call(hang)
    with pytest.raises(TimeoutError):
        await b.call(hang, timeout_s=0.01)  # a per-call deadline replaces the settings'
    assert time.monotonic() - started < 1.0
    assert b.state is OPEN


async def test_errors_the_predicate_excuses_count_as_successes() -> None:
    b = CircuitBreaker(BreakerSettings(), clock=FakeClock(), is_failure=lambda exc: not isinstance(exc, ValueError))

    async def refused() -> str:
        raise ValueError("bad request")

    for _ in range(6):
        with pytest.raises(ValueError):
            await b.call(refused)
    assert b.state is CLOSED and b.failure_rate == 0.0


async def test_open_fails_fast_without_calling() -> None:
    clock = FakeClock()
    b = await opened(clock)
    clock.advance(2.0)
    called = 0

    async def counted() -> str:
        nonlocal called
        called += 1
        return "ok"

    started = time.monotonic()
    with pytest.raises(CircuitOpenError) as info:
        await b.call(counted)
    assert time.monotonic() - started < 0.05
    assert called == 0
    assert info.value.retry_after_s == pytest.approx(3.0)
    assert isinstance(info.value, TransportError) and isinstance(info.value, AutoGLMError)
    assert info.value.code == "circuit_open"


async def test_half_open_after_the_wait() -> None:
    clock = FakeClock()
    b = await opened(clock)
    clock.advance(4.99)
    assert b.state is OPEN
    clock.advance(0.01)
    assert b.state is HALF_OPEN


async def test_half_open_probe_success_closes_with_a_clean_window() -> None:
    clock = FakeClock()
    b = await opened(clock)
    clock.advance(5.0)
    await succeed(b)
    assert b.state is CLOSED and b.failure_rate is None


async def test_half_open_probe_failure_reopens_for_a_full_wait() -> None:
    clock = FakeClock()
    b = await opened(clock)
    clock.advance(5.0)
    await fail(b)
    assert b.state is OPEN
    clock.advance(4.9)
    with pytest.raises(CircuitOpenError):
        await b.call(ok)
    clock.advance(0.1)
    assert b.state is HALF_OPEN


async def test_half_open_admits_only_the_probes() -> None:
    clock = FakeClock()
    b = await opened(clock)
    clock.advance(5.0)
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "ok"

    probe = asyncio.create_task(b.call(slow))
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await b.call(ok)  # the one probe slot is taken
    release.set()
    assert await probe == "ok"
    assert b.state is CLOSED


async def test_closing_needs_as_many_successes_as_probes() -> None:
    clock = FakeClock()
    b = await opened(clock, half_open_probes=2)
    clock.advance(5.0)
    await succeed(b)
    assert b.state is HALF_OPEN
    await succeed(b)
    assert b.state is CLOSED


async def test_cancelled_probe_frees_its_slot() -> None:
    clock = FakeClock()
    b = await opened(clock)
    clock.advance(5.0)
    probe = asyncio.create_task(b.call(lambda: asyncio.sleep(5, result="late")))
    await asyncio.sleep(0)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert b.state is HALF_OPEN
    await succeed(b)
    assert b.state is CLOSED


async def test_outcome_of_a_call_from_before_a_transition_is_ignored() -> None:
    clock = FakeClock()
    b = breaker(clock, minimum_calls=2, window_size=2)
    release_old, release_probe = asyncio.Event(), asyncio.Event()

    async def wait_for(event: asyncio.Event) -> str:
        await event.wait()
        return "ok"

    old = asyncio.create_task(b.call(lambda: wait_for(release_old)))
    await asyncio.sleep(0)
    await fail(b, 2)
    clock.advance(5.0)
    probe = asyncio.create_task(b.call(lambda: wait_for(release_probe)))
    await asyncio.sleep(0)
    release_old.set()
    assert await old == "ok"
    assert b.state is HALF_OPEN  # the stale success neither closed it nor freed the probe's slot
    with pytest.raises(CircuitOpenError):
        await b.call(ok)
    release_probe.set()
    await probe
    assert b.state is CLOSED


async def test_sliding_window_forgets_old_failures() -> None:
    b = breaker(FakeClock(), window_size=5, minimum_calls=5)
    await fail(b, 2)
    await succeed(b, 3)
    await fail(b)  # window F S S S F: the first failure left it; a running tally would be 3 of 6
    assert b.state is CLOSED and b.failure_rate == pytest.approx(0.4)
    await fail(b)  # S S S F F (4 of 7 overall)
    assert b.state is CLOSED and b.failure_rate == pytest.approx(0.4)
    await fail(b)  # S S F F F
    assert b.state is OPEN


async def test_listener_sees_every_transition() -> None:
    clock = FakeClock()
    seen: list[tuple[BreakerState, BreakerState]] = []
    b = breaker(clock, seen, minimum_calls=1, window_size=1)
    await fail(b)
    clock.advance(5.0)
    await fail(b)
    clock.advance(5.0)
    await succeed(b)
    assert seen == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


async def test_a_failing_listener_does_not_break_the_breaker() -> None:
    def broken(old: BreakerState, new: BreakerState) -> None:
        raise RuntimeError("metrics down")

    b = CircuitBreaker(BreakerSettings(minimum_calls=1, window_size=1), clock=FakeClock(), on_state_change=broken)
    await fail(b)  # the caller still sees its own error, not the listener's
    assert b.state is OPEN


async def test_exactly_n_probes_run_among_16_concurrent_callers() -> None:
    clock = FakeClock()
    b = await opened(clock, half_open_probes=3)
    clock.advance(5.0)
    release = asyncio.Event()
    running = 0

    async def slow() -> str:
        nonlocal running
        running += 1
        await release.wait()
        return "ok"

    callers = [asyncio.create_task(b.call(slow)) for _ in range(16)]
    await asyncio.sleep(0)
    assert running == 3  # the other 13 were turned away without calling the peer
    release.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert outcomes.count("ok") == 3
    assert sum(isinstance(o, CircuitOpenError) for o in outcomes) == 13
    assert b.state is CLOSED  # three probe successes close it


async def test_client_errors_are_not_failures_in_any_state() -> None:
    clock = FakeClock()
    b = CircuitBreaker(BreakerSettings(minimum_calls=1, window_size=1), clock=clock, is_failure=counts_against_cloud)

    async def rejected(status: int) -> str:
        raise CloudRejectedError(status, server_code="x", message="no")

    for status in (400, 401, 403, 404, 409, 413, 422) * 3:
        with pytest.raises(CloudRejectedError):
            await b.call(lambda s=status: rejected(s))
    assert b.state is CLOSED and b.failure_rate == 0.0
    with pytest.raises(CloudRejectedError):
        await b.call(lambda: rejected(503))
    assert b.state is OPEN
    clock.advance(5.0)
    with pytest.raises(CloudRejectedError):
        await b.call(lambda: rejected(404))  # a half-open probe that gets a 4xx: the peer answered
    assert b.state is CLOSED
