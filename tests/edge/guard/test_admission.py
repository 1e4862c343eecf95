"""Admission: high priority first, FIFO within a priority, overflow sheds the lowest, timeouts and cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest

from edge.config import Priority
from edge.guard.admission import Admission, ShedError
from shared.errors import AutoGLMError

HIGH, NORMAL, LOW = Priority.HIGH, Priority.NORMAL, Priority.LOW


async def settle() -> None:
    for _ in range(5):  # let queued tasks reach their await
        await asyncio.sleep(0)


async def enter(admission: Admission, priority: Priority, order: list[str], name: str,
                timeout_s: float | None = None) -> None:
    async with admission.slot(priority, timeout_s):
        order.append(name)
        await asyncio.sleep(0)


async def test_runs_at_once_under_the_limit() -> None:
    admission = Admission(limit=2, max_waiting=4)
    await admission.acquire(LOW)
    await admission.acquire(LOW)
    assert (admission.running, admission.waiting) == (2, 0)
    admission.release()
    admission.release()
    assert admission.running == 0


async def test_high_priority_goes_first_then_fifo() -> None:
    admission = Admission(limit=1, max_waiting=10)
    order: list[str] = []
    await admission.acquire(NORMAL)  # the edge is busy
    tasks = [asyncio.create_task(enter(admission, p, order, name))
             for p, name in [(LOW, "low-1"), (NORMAL, "normal-1"), (LOW, "low-2"), (HIGH, "high-1"),
                             (NORMAL, "normal-2"), (HIGH, "high-2")]]
    await settle()
    assert admission.waiting == 6 and order == []
    admission.release()
    await asyncio.gather(*tasks)
    assert order == ["high-1", "high-2", "normal-1", "normal-2", "low-1", "low-2"]
    assert (admission.running, admission.waiting) == (0, 0)


async def test_overflow_sheds_the_lowest_priority() -> None:
    admission = Admission(limit=1, max_waiting=2)
    order: list[str] = []
    await admission.acquire(NORMAL)
    low = asyncio.create_task(enter(admission, LOW, order, "low"))
    normal = asyncio.create_task(enter(admission, NORMAL, order, "normal"))
    await settle()
    high = asyncio.create_task(enter(admission, HIGH, order, "high"))  # full: the low waiter makes room
    await settle()
    with pytest.raises(ShedError) as shed:
        await low
    assert (shed.value.priority, shed.value.reason) == (LOW, "overflow")
    with pytest.raises(ShedError) as refused:  # full of better work: the newcomer is the lowest
        await enter(admission, LOW, order, "late-low")
    assert refused.value.priority is LOW
    with pytest.raises(ShedError):  # equal priority: the newest is shed, earlier arrivals keep their place
        await enter(admission, NORMAL, order, "late-normal")
    admission.release()
    await asyncio.gather(normal, high)
    assert order == ["high", "normal"]
    assert (admission.running, admission.waiting) == (0, 0)


async def test_overflow_sheds_the_newest_among_the_lowest() -> None:
    admission = Admission(limit=1, max_waiting=2)
    order: list[str] = []
    await admission.acquire(NORMAL)
    first = asyncio.create_task(enter(admission, LOW, order, "low-1"))
    second = asyncio.create_task(enter(admission, LOW, order, "low-2"))
    await settle()
    high = asyncio.create_task(enter(admission, HIGH, order, "high"))
    await settle()
    with pytest.raises(ShedError):
        await second
    admission.release()
    await asyncio.gather(first, high)
    assert order == ["high", "low-1"]


async def test_waiting_too_long_is_shed_and_frees_the_place() -> None:
    admission = Admission(limit=1, max_waiting=1)
    await admission.acquire(HIGH)
    with pytest.raises(ShedError) as shed:
        await admission.acquire(NORMAL, timeout_s=0.01)
    assert (shed.value.priority, shed.value.reason) == (NORMAL, "timeout")
    assert isinstance(shed.value, AutoGLMError) and shed.value.code == "shed"
    assert "the edge is busy" in str(shed.value)
    assert (admission.running, admission.waiting) == (1, 0)
    admission.release()
    assert admission.running == 0


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    admission = Admission(limit=1, max_waiting=4)
    order: list[str] = []
    await admission.acquire(NORMAL)
    gone = asyncio.create_task(enter(admission, HIGH, order, "gone"))
    stays = asyncio.create_task(enter(admission, LOW, order, "stays"))
    await settle()
    gone.cancel()
    admission.release()  # before the cancelled task resumes: the slot must go to the live waiter
    with pytest.raises(asyncio.CancelledError):
        await gone
    await stays
    assert order == ["stays"]
    assert (admission.running, admission.waiting) == (0, 0)


async def test_a_slot_handed_to_a_cancelled_waiter_is_passed_on() -> None:
    admission = Admission(limit=1, max_waiting=4)
    order: list[str] = []
    await admission.acquire(NORMAL)
    first = asyncio.create_task(enter(admission, HIGH, order, "first"))
    second = asyncio.create_task(enter(admission, LOW, order, "second"))
    await settle()
    admission.release()  # hands the slot to `first`...
    first.cancel()  # ...which is cancelled before it runs: the slot must not leak
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert order == ["second"]
    assert (admission.running, admission.waiting) == (0, 0)


async def test_a_slot_handed_over_as_the_deadline_passes_is_kept() -> None:
    admission = Admission(limit=1, max_waiting=4)
    await admission.acquire(HIGH)
    waiter = asyncio.create_task(admission.acquire(NORMAL, timeout_s=0.01))
    await settle()
    time.sleep(0.02)  # noqa: ASYNC251 - block the loop on purpose so the deadline is already due
    await asyncio.sleep(0)  # the loop queues the due deadline behind this task
    admission.release()  # hands the slot over before the deadline's callback runs
    await waiter  # granted: no ShedError, and the slot is the waiter's
    assert (admission.running, admission.waiting) == (1, 0)
    admission.release()
    assert admission.running == 0


async def test_a_slot_is_released_when_the_work_fails() -> None:
    admission = Admission(limit=1, max_waiting=1)
    with pytest.raises(RuntimeError):
        async with admission.slot(LOW):
            raise RuntimeError("pipeline failed")
    assert admission.running == 0
