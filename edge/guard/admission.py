"""Admission for queued work: a bounded priority semaphore, high priority first, lowest priority shed on overflow."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from edge.config import Priority
from shared.errors import AutoGLMError

#: (priority rank, arrival number, priority, future the waiter awaits); heap order never reaches the future.
_Waiter = tuple[int, int, Priority, asyncio.Future[None]]


class ShedError(AutoGLMError):
    """Admission refused a request: the queue was full of higher-priority work, or it waited too long."""

    code = "shed"

    def __init__(self, priority: Priority, reason: str) -> None:
        self.priority = priority
        self.reason = reason  # "overflow" or "timeout"
        super().__init__(f"{priority.value}-priority request shed ({reason}): the edge is busy, try again shortly")


class Admission:
    """A priority semaphore: at most `limit` run; waiters enter highest priority first, FIFO within a priority.

    Overflow policy: when `max_waiting` requests already wait, the lowest-priority one is shed, the newest among
    equals, the newcomer included; so high-priority work is shed only when every waiter is high priority.
    One event loop only (no locks: nothing awaits between a check and its update).
    """

    def __init__(self, limit: int, max_waiting: int) -> None:
        self._limit = limit
        self._max_waiting = max_waiting
        self._running = 0
        self._waiters: list[_Waiter] = []  # a heap: best priority, then earliest arrival, first
        self._arrivals = itertools.count()

    @property
    def running(self) -> int:
        """Requests holding a slot."""
        return self._running

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return len(self._waiters)

    @asynccontextmanager
    async def slot(self, priority: Priority, timeout_s: float | None = None) -> AsyncIterator[None]:
        """Hold a slot for the block; raise ShedError when shed on overflow or after `timeout_s` waiting."""
        await self.acquire(priority, timeout_s)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, priority: Priority, timeout_s: float | None = None) -> None:
        """Take a slot (pair with `release`); raise ShedError when shed on overflow or after `timeout_s`."""
        if self._running < self._limit and not self._waiters:
            self._running += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (priority.rank, next(self._arrivals), priority, future)
        if len(self._waiters) >= self._max_waiting:
            # Waiters whose deadline or cancellation fired but whose task has not resumed yet hold no real place.
            self._waiters = [w for w in self._waiters if not w[3].done()]
            heapq.heapify(self._waiters)
        if len(self._waiters) >= self._max_waiting:
            victim = max(self._waiters)  # lowest priority, newest among equals (arrivals are unique: no tie)
            if victim[0] <= entry[0]:
                raise ShedError(priority, "overflow")
            self._remove(victim)
            victim[3].set_exception(ShedError(victim[2], "overflow"))
        heapq.heappush(self._waiters, entry)
        try:
            async with asyncio.timeout(timeout_s):
                await future
        except TimeoutError:
            if _granted(future):  # handed a slot just as the deadline passed: keep it
                return
            self._remove(entry)
            raise ShedError(priority, "timeout") from None
        except asyncio.CancelledError:
            if _granted(future):  # the slot was handed over: give it on rather than leak it
                self.release()
            else:
                self._remove(entry)
            raise

    def release(self) -> None:
        """Give a slot back: to the best waiter if any (it stays counted as running), else free it."""
        while self._waiters:
            future = heapq.heappop(self._waiters)[3]
            # A waiter whose deadline or cancellation has fired but whose task has not resumed yet is skipped.
            if not future.done():
                future.set_result(None)
                return
        self._running -= 1

    def _remove(self, entry: _Waiter) -> None:
        if entry in self._waiters:
            self._waiters.remove(entry)
            heapq.heapify(self._waiters)


def _granted(future: asyncio.Future[None]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None
