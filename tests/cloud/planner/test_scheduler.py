"""The batching policy: Triton's dynamic-batching semantics, bounded queue, cancel and deadlines."""

from __future__ import annotations

import pytest

from cloud.planner.scheduler import BatchPolicy, Scheduler
from shared.errors import PlannerOverloadedError


def make(max_batch: int = 4, timeout_us: int = 100_000, max_queue: int = 16) -> Scheduler[str]:
    return Scheduler(BatchPolicy(max_batch_size=max_batch, batch_timeout_micros=timeout_us, max_queue=max_queue))


def test_defaults_are_tritons() -> None:
    policy = BatchPolicy()
    assert (policy.max_batch_size, policy.batch_timeout_micros) == (32, 100_000)
    assert policy.batch_timeout_s == pytest.approx(0.1)


def test_full_batch_goes_at_once() -> None:
    s = make(max_batch=4)
    for i in range(4):
        s.add(f"r{i}", now=10.0)
    assert [t.payload for t in s.schedule(10.0).batch] == ["r0", "r1", "r2", "r3"]
    assert s.depth == 0


def test_partial_batch_waits_for_the_oldest_request_timeout() -> None:
    s = make(max_batch=4, timeout_us=100_000)
    s.add("a", now=0.0)
    s.add("b", now=0.05)
    assert s.schedule(0.099).batch == []
    assert s.next_due(0.06) == pytest.approx(0.1)
    assert [t.payload for t in s.schedule(0.1).batch] == ["a", "b"]


def test_batch_is_capped_and_fifo() -> None:
    s = make(max_batch=4)
    for i in range(10):
        s.add(str(i), now=0.0)
    assert [t.payload for t in s.schedule(0.0).batch] == ["0", "1", "2", "3"]
    assert [t.payload for t in s.schedule(0.0).batch] == ["4", "5", "6", "7"]
    assert s.schedule(0.0).batch == []  # two left: not full and not waited long enough
    assert [t.payload for t in s.schedule(0.2).batch] == ["8", "9"]


def test_batch_size_one_never_waits() -> None:
    s = make(max_batch=1, timeout_us=1_000_000)
    s.add("a", now=0.0)
    s.add("b", now=0.0)
    assert [t.payload for t in s.schedule(0.0).batch] == ["a"]
    assert s.next_due(0.0) == 0.0


def test_overload_raises_and_cancelled_requests_free_room() -> None:
    s = make(max_queue=2)
    first = s.add("a", now=0.0)
    s.add("b", now=0.0)
    with pytest.raises(PlannerOverloadedError, match="queue is full"):
        s.add("c", now=0.0)
    s.cancel(first)
    s.add("c", now=0.0)
    assert s.depth == 2


def test_cancelled_and_expired_requests_never_reach_a_batch() -> None:
    s = make(max_batch=4)
    gone = s.add("cancelled", now=0.0)
    s.add("late", now=0.0, deadline=0.05)
    s.add("ok", now=0.0, deadline=5.0)
    s.cancel(gone)
    decided = s.schedule(0.2)
    assert [t.payload for t in decided.batch] == ["ok"]
    assert [t.payload for t in decided.cancelled] == ["cancelled"]
    assert [t.payload for t in decided.expired] == ["late"]


def test_next_due_respects_deadlines_and_empty_queue() -> None:
    s = make(timeout_us=100_000)
    assert s.next_due(0.0) is None
    s.add("a", now=0.0, deadline=0.03)
    assert s.next_due(0.0) == pytest.approx(0.03)


def test_drain_empties_the_queue() -> None:
    s = make()
    s.add("a", now=0.0)
    assert [t.payload for t in s.drain()] == ["a"]
    assert s.depth == 0


@pytest.mark.parametrize("kwargs", [{"max_batch_size": 0}, {"batch_timeout_micros": -1}, {"max_queue": 0}])
def test_bad_policy_is_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="bad batch policy"):
        BatchPolicy(**kwargs)
