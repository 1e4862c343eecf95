"""Dynamic batching policy with Triton's semantics; pure (no torch, no asyncio): the caller passes the time.

A batch goes as soon as `max_batch_size` requests wait, or when the oldest waiting request has waited
`batch_timeout_micros`; then it takes everything waiting, up to `max_batch_size`, oldest first. The queue is
bounded: `add` beyond `max_queue` raises `PlannerOverloadedError` (the API answers 429). Requests that were
cancelled or whose deadline passed are dropped when the next batch forms and reported as `expired`.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from shared.errors import PlannerOverloadedError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """Triton's dynamic-batching knobs plus the queue bound."""

    max_batch_size: int = 32
    batch_timeout_micros: int = 100_000
    max_queue: int = 256

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.batch_timeout_micros < 0 or self.max_queue < 1:
            raise ValueError(f"bad batch policy: {self}")

    @property
    def batch_timeout_s(self) -> float:
        """The longest the oldest request waits for its batch to fill, in seconds."""
        return self.batch_timeout_micros / 1_000_000


@dataclass(eq=False, slots=True)
class Ticket(Generic[T]):
    """One queued request: its payload, when it arrived, its absolute deadline (None: none) and cancel flag."""

    seq: int
    payload: T
    arrived: float
    deadline: float | None = None
    cancelled: bool = False

    def expired(self, now: float) -> bool:
        """True when the request's deadline has passed."""
        return self.deadline is not None and now >= self.deadline


@dataclass(slots=True)
class Schedule(Generic[T]):
    """What `schedule` decided: a batch to run now (maybe empty) and requests dropped as cancelled/expired."""

    batch: list[Ticket[T]] = field(default_factory=list)
    expired: list[Ticket[T]] = field(default_factory=list)
    cancelled: list[Ticket[T]] = field(default_factory=list)


class Scheduler(Generic[T]):
    """The bounded FIFO queue and the decision when a batch goes."""

    def __init__(self, policy: BatchPolicy | None = None) -> None:
        self.policy = policy or BatchPolicy()
        self._queue: deque[Ticket[T]] = deque()
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def depth(self) -> int:
        """Requests waiting (cancelled ones count until the next `schedule` drops them)."""
        return len(self._queue)

    def add(self, payload: T, *, now: float, deadline: float | None = None) -> Ticket[T]:
        """Queue a request; raises PlannerOverloadedError when the queue is full."""
        if len(self._queue) >= self.policy.max_queue:
            self._queue = deque(t for t in self._queue if not t.cancelled)
        if len(self._queue) >= self.policy.max_queue:
            raise PlannerOverloadedError(
                f"planner queue is full ({self.policy.max_queue} requests waiting); retry later")
        ticket = Ticket(next(self._seq), payload, now, deadline)
        self._queue.append(ticket)
        return ticket

    def cancel(self, ticket: Ticket[T]) -> None:
        """Mark a request cancelled; it never reaches a batch."""
        ticket.cancelled = True

    def schedule(self, now: float) -> Schedule[T]:
        """Drop dead requests, then take a batch if one is due (full, or the oldest waited long enough)."""
        out: Schedule[T] = Schedule()
        live: deque[Ticket[T]] = deque()
        for ticket in self._queue:
            if ticket.cancelled:
                out.cancelled.append(ticket)
            elif ticket.expired(now):
                out.expired.append(ticket)
            else:
                live.append(ticket)
        self._queue = live
        if self._due(now):
            size = min(self.policy.max_batch_size, len(live))
            out.batch = [live.popleft() for _ in range(size)]
        return out

    def drain(self) -> list[Ticket[T]]:
        """Remove and return every waiting request (at shutdown)."""
        out = list(self._queue)
        self._queue.clear()
        return out

    def next_due(self, now: float) -> float | None:
        """When the next batch becomes due without new arrivals (`now` if due already; None if the queue is empty)."""
        live = [t for t in self._queue if not t.cancelled]
        if not live:
            return None
        if len(live) >= self.policy.max_batch_size:
            return now
        due = live[0].arrived + self.policy.batch_timeout_s
        deadlines = [t.deadline for t in live if t.deadline is not None]
        return max(now, min([due, *deadlines]))

    def _due(self, now: float) -> bool:
        if not self._queue:
            return False
        if len(self._queue) >= self.policy.max_batch_size:
            return True
        return now - self._queue[0].arrived >= self.policy.batch_timeout_s
