"""The engine loop with a fake runner: batches per Triton semantics, overload, hung calls, cancel, lazy load."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import pytest
from prometheus_client import CollectorRegistry

from cloud.planner.batch import GenerationOutput, GenerationRequest
from cloud.planner.engine import PlannerEngine
from cloud.planner.scheduler import BatchPolicy
from shared.errors import PlannerError, PlannerOverloadedError, PlannerTimeoutError, PlannerUnavailableError


class FakeRunner:
    """Echoes prompts; "hang" blocks until released, "boom" raises, "spin" runs until asked to stop."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.stopped_rows: list[str] = []

    def generate(self, batch: Sequence[GenerationRequest], *,
                 should_stop: Callable[[int], bool]) -> list[GenerationOutput]:
        prompts = [r.prompt for r in batch]
        self.batches.append(prompts)
        self.gate.wait(10)
        if "hang" in prompts:
            self.release.wait(30)
        if "boom" in prompts:
            raise RuntimeError("model exploded")
        outs = []
        for row, prompt in enumerate(batch):
            if prompt.prompt == "spin":
                deadline = time.monotonic() + 10
                while not should_stop(row) and time.monotonic() < deadline:
                    time.sleep(0.005)
                self.stopped_rows.append(prompt.prompt)
                outs.append(GenerationOutput("", 0, "cancelled", 0.001))
            else:
                outs.append(GenerationOutput(prompt.prompt.upper(), len(prompt.prompt), "stop", 0.001))
        return outs


@pytest.fixture
def runner() -> Iterator[FakeRunner]:
    fake = FakeRunner()
    yield fake
    fake.release.set()
    fake.gate.set()


async def started(runner: FakeRunner) -> None:
    """Return once the runner has been handed its first batch."""
    for _ in range(1000):
        if runner.batches:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the runner never got a batch")


def engine_for(runner: FakeRunner, registry: CollectorRegistry | None = None, **policy: int) -> PlannerEngine:
    kwargs = {"max_batch_size": 4, "batch_timeout_micros": 20_000, "max_queue": 64} | policy
    return PlannerEngine(lambda: runner, policy=BatchPolicy(**kwargs), request_timeout_s=5.0,
                         registry=registry, watchdog_grace_s=0.05)


async def test_results_come_back_to_their_callers(runner: FakeRunner) -> None:
    async with engine_for(runner) as engine:
        results = await asyncio.gather(*(engine.generate(f"p{i}", None) for i in range(6)))
    assert [r.text for r in results] == [f"P{i}" for i in range(6)]
    assert all(r.finish_reason == "stop" and r.latency_s >= r.queue_s >= 0 for r in results)


async def test_batches_form_per_triton_semantics(runner: FakeRunner) -> None:
    registry = CollectorRegistry()
    async with engine_for(runner, registry, max_batch_size=4) as engine:
        await asyncio.gather(*(engine.generate(f"p{i}", None) for i in range(10)))
    assert [len(b) for b in runner.batches] == [4, 4, 2]
    assert [p for b in runner.batches for p in b] == [f"p{i}" for i in range(10)]  # FIFO
    assert registry.get_sample_value("autoglm_planner_batch_size_count") == 3
    assert registry.get_sample_value("autoglm_planner_batch_size_sum") == 10
    assert registry.get_sample_value("autoglm_planner_time_to_first_token_seconds_count") == 10
    assert registry.get_sample_value("autoglm_planner_requests_total", {"outcome": "ok"}) == 10
    assert registry.get_sample_value("autoglm_planner_queue_depth") == 0


async def test_a_lone_request_waits_for_the_batch_timeout(runner: FakeRunner) -> None:
    async with engine_for(runner, batch_timeout_micros=200_000) as engine:
        result = await engine.generate("solo", None)
    assert result.queue_s >= 0.2
    assert result.batch_size == 1


async def test_batch_size_one_does_not_wait(runner: FakeRunner) -> None:
    async with engine_for(runner, max_batch_size=1, batch_timeout_micros=2_000_000) as engine:
        result = await engine.generate("solo", None)
    assert result.queue_s < 1.0  # far below the 2 s batch timeout: a full batch goes at once


async def test_overload_is_refused_with_a_429_error(runner: FakeRunner) -> None:
    registry = CollectorRegistry()
    runner.gate.clear()  # the first batch blocks in the model
    async with engine_for(runner, registry, max_batch_size=1, max_queue=2) as engine:
        first = asyncio.create_task(engine.generate("busy", None))
        await started(runner)
        queued = [asyncio.create_task(engine.generate(f"q{i}", None)) for i in range(2)]
        await asyncio.sleep(0.01)
        with pytest.raises(PlannerOverloadedError) as info:
            await engine.generate("one too many", None)
        assert info.value.code == "planner_overloaded"
        assert registry.get_sample_value("autoglm_planner_rejections_total", {"reason": "overloaded"}) == 1
        runner.gate.set()
        assert [r.text for r in await asyncio.gather(first, *queued)] == ["BUSY", "Q0", "Q1"]


async def test_a_hung_model_call_times_out_and_others_are_served(runner: FakeRunner) -> None:
    async with engine_for(runner, max_batch_size=1) as engine:
        hung = asyncio.create_task(engine.generate("hang", None, timeout_s=0.3))
        await started(runner)
        other = asyncio.create_task(engine.generate("next", None, timeout_s=5.0))
        with pytest.raises(PlannerTimeoutError):
            await hung
        assert (await other).text == "NEXT"
        assert engine.status() == "loaded"  # one stuck batch is tolerated (max_stuck_batches=2)


async def test_too_many_hung_batches_make_the_engine_unavailable(runner: FakeRunner) -> None:
    engine = PlannerEngine(lambda: runner, policy=BatchPolicy(max_batch_size=1, batch_timeout_micros=0),
                           watchdog_grace_s=0.01, max_stuck_batches=1)
    async with engine:
        with pytest.raises(PlannerTimeoutError):
            await engine.generate("hang", None, timeout_s=0.1)
        await asyncio.sleep(0.05)
        assert engine.status() == "unavailable"
        with pytest.raises(PlannerUnavailableError, match="wedged"):
            await engine.generate("next", None)
        runner.release.set()
        for _ in range(200):
            if engine.status() == "loaded":
                break
            await asyncio.sleep(0.01)
        assert (await engine.generate("after", None)).text == "AFTER"


async def test_a_cancelled_queued_request_never_reaches_the_model(runner: FakeRunner) -> None:
    runner.gate.clear()
    async with engine_for(runner, max_batch_size=1) as engine:
        first = asyncio.create_task(engine.generate("first", None))
        await started(runner)
        doomed = asyncio.create_task(engine.generate("doomed", None))
        await asyncio.sleep(0.01)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        runner.gate.set()
        assert (await first).text == "FIRST"
        assert (await engine.generate("later", None)).text == "LATER"
    assert ["doomed"] not in runner.batches
    assert runner.batches == [["first"], ["later"]]


async def test_a_cancelled_running_request_is_stopped_in_the_runner(runner: FakeRunner) -> None:
    async with engine_for(runner, max_batch_size=1) as engine:
        spinning = asyncio.create_task(engine.generate("spin", None))
        await started(runner)
        spinning.cancel()
        with pytest.raises(asyncio.CancelledError):
            await spinning
        assert (await engine.generate("next", None)).text == "NEXT"
    assert runner.stopped_rows == ["spin"]


async def test_a_model_error_fails_its_batch_only(runner: FakeRunner) -> None:
    async with engine_for(runner, max_batch_size=1) as engine:
        with pytest.raises(PlannerError, match="model exploded"):
            await engine.generate("boom", None)
        assert (await engine.generate("fine", None)).text == "FINE"


async def test_lazy_load_happens_once_on_first_use() -> None:
    loads: list[int] = []
    fake = FakeRunner()

    def load() -> FakeRunner:
        loads.append(1)
        time.sleep(0.05)
        return fake

    engine = PlannerEngine(load, policy=BatchPolicy(batch_timeout_micros=1_000), lazy_load=True)
    async with engine:
        assert engine.status() == "lazy" and loads == []
        results = await asyncio.gather(*(engine.generate(f"p{i}", None) for i in range(3)))
        assert engine.status() == "loaded"
    assert loads == [1]
    assert [r.text for r in results] == ["P0", "P1", "P2"]


async def test_eager_load_happens_at_start(runner: FakeRunner) -> None:
    async with engine_for(runner) as engine:
        assert engine.status() == "loaded"


async def test_a_failed_load_makes_the_planner_unavailable() -> None:
    def load() -> FakeRunner:
        raise FileNotFoundError("no such model dir")

    async with PlannerEngine(load) as engine:
        assert engine.status() == "unavailable"
        with pytest.raises(PlannerUnavailableError, match="no such model dir"):
            await engine.generate("p", None)


async def test_the_schema_reaches_the_runner_as_json_in_its_declared_key_order(runner: FakeRunner) -> None:
    seen: list[str | None] = []
    original = runner.generate

    def spy(batch: Sequence[GenerationRequest], *, should_stop: Callable[[int], bool]) -> list[GenerationOutput]:
        seen.extend(r.schema for r in batch)
        return original(batch, should_stop=should_stop)

    runner.generate = spy  # type: ignore[method-assign]
    async with engine_for(runner) as engine:
        await engine.generate("p", {"type": "object", "properties": {"z": {}, "a": {}}})
    # xgrammar writes properties in the order the schema declares them, and plans are serialised in that order.
    assert seen == ['{"type": "object", "properties": {"z": {}, "a": {}}}']


async def test_requests_after_close_are_refused(runner: FakeRunner) -> None:
    engine = engine_for(runner)
    await engine.start()
    await engine.aclose()
    assert engine.status() == "unavailable"
    with pytest.raises(PlannerUnavailableError):
        await engine.generate("p", None)
