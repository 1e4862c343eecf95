"""A circuit breaker for calls to a remote peer: fail fast while it is down, probe it, close when it answers.

CLOSED: calls run under a deadline and their outcomes fill a sliding window of the last `window_size` calls;
once the window holds `minimum_calls` outcomes and the failure share reaches the threshold, the breaker opens.
OPEN: calls fail at once with CircuitOpenError until `open_s` has passed; then the breaker is HALF_OPEN.
HALF_OPEN: at most `half_open_probes` calls run at a time (others fail fast); that many successes close it,
one failure opens it again.

A call that overruns its deadline raises TimeoutError and counts as a failure; another exception counts as
one when `is_failure` says so, else as a success (the peer answered); either way the exception propagates.
A call cancelled by its caller counts as nothing. An outcome counts only in the state its call started in:
a slow call from before a transition can neither close nor reopen the breaker. Use one breaker from one
event loop (no locks: nothing awaits between a check and its update).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

from edge.config import BreakerSettings
from shared.errors import TransportError

log = logging.getLogger(__name__)

T = TypeVar("T")


class BreakerState(StrEnum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls fail at once
    HALF_OPEN = "half_open"  # a few probe calls go through


#: Monotonic seconds; injectable so tests move time by hand.
Clock = Callable[[], float]
#: Called with (old, new) on every transition, e.g. to set a gauge and publish an event.
StateListener = Callable[[BreakerState, BreakerState], None]
#: Whether an exception a call raised says the peer is unwell (timeouts always do).
FailurePredicate = Callable[[BaseException], bool]


class CircuitOpenError(TransportError):
    """The breaker is open (or its probe slots are taken), so the call was not made."""

    code = "circuit_open"

    def __init__(self, breaker: str, retry_after_s: float) -> None:
        self.breaker = breaker
        self.retry_after_s = max(retry_after_s, 0.0)
        super().__init__(f"the {breaker} circuit is open after repeated failures; "
                         f"next try in {self.retry_after_s:.1f}s")


def _any_error(exc: BaseException) -> bool:
    return True


class CircuitBreaker:
    """Guards calls to one peer; see the module docstring for the states and their rules."""

    def __init__(self, settings: BreakerSettings | None = None, *, name: str = "peer", clock: Clock = time.monotonic,
                 on_state_change: StateListener | None = None, is_failure: FailurePredicate | None = None) -> None:
        self.settings = settings or BreakerSettings()
        self.name = name
        self._clock = clock
        self._on_state_change = on_state_change
        self._is_failure = is_failure or _any_error
        self._state = BreakerState.CLOSED
        self._window: deque[bool] = deque(maxlen=self.settings.window_size)  # True: the call failed
        self._opened_at = 0.0
        self._generation = 0  # bumped on every transition; outcomes of older calls are dropped
        self._probes = 0  # probe calls in flight
        self._probe_successes = 0

    @property
    def state(self) -> BreakerState:
        """The current state; an OPEN breaker whose wait is over turns HALF_OPEN when read."""
        self._refresh()
        return self._state

    @property
    def failure_rate(self) -> float | None:
        """Failure share of the window, or None while it holds fewer than `minimum_calls` outcomes."""
        if len(self._window) < self.settings.minimum_calls:
            return None
        return sum(self._window) / len(self._window)

    async def call(self, fn: Callable[[], Awaitable[T]], *, timeout_s: float | None = None) -> T:
        """Await `fn()` under the deadline (`timeout_s`, else the settings'); raise CircuitOpenError when open."""
        generation, probe = self._admit()
        deadline = self.settings.call_timeout_s if timeout_s is None else timeout_s
        try:
            async with asyncio.timeout(deadline):
                result = await fn()
        except Exception as exc:
            self._record(generation, probe, failed=isinstance(exc, TimeoutError) or self._is_failure(exc))
            raise
        except BaseException:
            self._record(generation, probe, failed=None)  # cancelled by the caller: no outcome, free the slot
            raise
        self._record(generation, probe, failed=False)
        return result

    def _admit(self) -> tuple[int, bool]:
        self._refresh()
        if self._state is BreakerState.OPEN:
            raise CircuitOpenError(self.name, self._opened_at + self.settings.open_s - self._clock())
        if self._state is BreakerState.HALF_OPEN:
            if self._probes >= self.settings.half_open_probes:
                raise CircuitOpenError(self.name, 0.0)
            self._probes += 1
            return self._generation, True
        return self._generation, False

    def _record(self, generation: int, probe: bool, *, failed: bool | None) -> None:
        if generation != self._generation:
            return  # started before the last transition, whose reset already freed its probe slot
        if probe:
            self._probes -= 1
        if failed is None:
            return
        if self._state is BreakerState.HALF_OPEN:
            if failed:
                self._transition(BreakerState.OPEN)
            else:
                self._probe_successes += 1
                if self._probe_successes >= self.settings.half_open_probes:
                    self._transition(BreakerState.CLOSED)
            return
        self._window.append(failed)
        rate = self.failure_rate
        if rate is not None and rate >= self.settings.failure_rate_threshold:
            self._transition(BreakerState.OPEN)

    def _refresh(self) -> None:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.settings.open_s:
            self._transition(BreakerState.HALF_OPEN)

    def _transition(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        self._generation += 1
        self._probes = self._probe_successes = 0
        self._window.clear()  # a closed breaker starts from a clean slate
        if new is BreakerState.OPEN:
            self._opened_at = self._clock()
        level = logging.WARNING if new is BreakerState.OPEN else logging.INFO
        log.log(level, "circuit breaker %s: %s -> %s", self.name, old.value, new.value,
                extra={"breaker": self.name, "old": old.value, "new": new.value})
        if self._on_state_change is not None:
            try:
                self._on_state_change(old, new)
            except Exception:  # a broken metric hook must not break the calls it observes
                log.exception("circuit breaker listener failed", extra={"breaker": self.name})
