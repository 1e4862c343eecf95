"""Cloud client against httpx.MockTransport: the request it sends and how each failure is typed and counted."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine

import httpx
import pytest
from pydantic import ValidationError

from edge.config import BreakerSettings, CloudSettings
from edge.io.breaker import BreakerState
from edge.io.cloud_client import CloudClient
from edge.ports import (
    CloudBadResponseError,
    CloudError,
    CloudRejectedError,
    CloudTimeoutError,
    CloudUnavailableError,
    CloudUnreachableError,
)
from shared.errors import ConfigError, PayloadError, TransportError
from shared.plan import PlanRequest, PlanStatus
from tests.edge.fakes import FakeClock

TOKEN = "agh_edge1_s3cret"
PLAN = {"plan_id": "p1", "status": "proposed", "trace_id": "t1", "model": "tiny",
        "plan": {"steps": [{"id": "s1", "tool": "light.turn_on", "args": {"device_id": "l1"}}]}}

Handler = Callable[[httpx.Request], httpx.Response] | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def client(handler: Handler, *, url: str = "https://cloud.test", clock: FakeClock | None = None,
           seen: list[tuple[BreakerState, BreakerState]] | None = None, timeout_s: float = 0.8,
           **breaker: float) -> CloudClient:
    settings = CloudSettings(url=url, token=TOKEN, timeout_s=timeout_s, breaker=BreakerSettings(**breaker))
    listener = (lambda old, new: seen.append((old, new))) if seen is not None else None
    return CloudClient(settings, "edge1", transport=httpx.MockTransport(handler), clock=clock or FakeClock(),
                       on_state_change=listener)


def error(status: int, code: str, **headers: str) -> Handler:
    return lambda request: httpx.Response(status, json={"error": {"code": code, "message": f"{code} here"}},
                                          headers=headers)


async def test_sends_the_plan_request_with_token_and_trace() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json=PLAN)

    async with client(handler, url="https://cloud.test/api") as cloud:
        answer = await cloud.plan("turn on the kitchen light", language="zh-cn", trace_id="trace-1")
    assert answer.plan_id == "p1" and answer.status is PlanStatus.PROPOSED
    assert answer.plan.steps[0].tool == "light.turn_on"
    (request,) = requests
    assert request.method == "POST" and request.url == "https://cloud.test/api/v1/plan"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["X-Trace-ID"] == "trace-1"
    body = json.loads(request.content)
    assert body == {"text": "turn on the kitchen light", "edge_id": "edge1", "language": "zh-cn"}
    PlanRequest.model_validate(body)  # the cloud's body model forbids extra fields


async def test_no_trace_header_without_a_trace_id() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json=PLAN)

    await client(handler).plan("hello")
    assert "X-Trace-ID" not in requests[0].headers


@pytest.mark.parametrize(("status", "code", "counted"), [
    (401, "unauthenticated", False),
    (403, "forbidden", False),
    (404, "not_found", False),
    (422, "invalid_plan", False),
    (429, "planner_overloaded", True),
    (500, "autoglm_error", True),
    (503, "planner_unavailable", True),
    (504, "planner_timeout", True),
])
async def test_status_mapping(status: int, code: str, counted: bool) -> None:
    cloud = client(error(status, code), minimum_calls=1, window_size=1)
    with pytest.raises(CloudRejectedError) as info:
        await cloud.plan("hello")
    exc = info.value
    assert (exc.status, exc.server_code, exc.retryable) == (status, code, counted)
    assert f"HTTP {status} {code}: {code} here" in str(exc)
    assert isinstance(exc, CloudError) and exc.code == "cloud_rejected"
    assert cloud.breaker.state is (BreakerState.OPEN if counted else BreakerState.CLOSED)


async def test_401_says_what_to_fix() -> None:
    with pytest.raises(CloudRejectedError, match=r"edge\.cloud\.token"):
        await client(error(401, "unauthenticated")).plan("hello")


async def test_429_keeps_retry_after() -> None:
    with pytest.raises(CloudRejectedError) as info:
        await client(error(429, "planner_overloaded", **{"Retry-After": "1"})).plan("hello")
    assert info.value.retry_after_s == 1.0


async def test_error_page_that_is_not_json() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>", headers={"Content-Type": "text/html"})

    with pytest.raises(CloudRejectedError) as info:
        await client(handler).plan("hello")
    assert (info.value.status, info.value.server_code) == (502, None)
    assert "Bad Gateway" in str(info.value)


@pytest.mark.parametrize(("body", "says"), [
    (b"{not json", "not JSON"),
    (b'{"plan_id": "p1"}', "PlanResponse"),
    (b"[]", "PlanResponse"),
])
async def test_malformed_plan_answer(body: bytes, says: str) -> None:
    cloud = client(lambda request: httpx.Response(200, content=body), minimum_calls=1, window_size=1)
    with pytest.raises(CloudBadResponseError, match=says):
        await cloud.plan("hello")
    assert cloud.breaker.state is BreakerState.OPEN


async def test_connection_refused_is_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(CloudUnreachableError, match=r"cloud\.test.*refused") as info:
        await client(handler).plan("hello")
    assert isinstance(info.value, TransportError) and isinstance(info.value, CloudError)


async def test_httpx_timeout_is_a_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    with pytest.raises(CloudTimeoutError):
        await client(handler).plan("hello")


async def test_hanging_cloud_times_out_and_counts() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(2)
        return httpx.Response(200, json=PLAN)

    cloud = client(hang, timeout_s=0.05, minimum_calls=2, window_size=2)
    started = time.monotonic()
    with pytest.raises(CloudTimeoutError, match=r"0\.05s"):
        await cloud.plan("hello")
    assert time.monotonic() - started < 0.5
    assert cloud.breaker.failure_rate is None  # one of the two calls the window needs
    with pytest.raises(CloudTimeoutError):
        await cloud.plan("hello")
    assert cloud.breaker.state is BreakerState.OPEN


async def test_open_breaker_answers_at_once_then_probes() -> None:
    calls = 0
    healthy = False

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json=PLAN) if healthy else httpx.Response(503, json={})

    clock = FakeClock()
    seen: list[tuple[BreakerState, BreakerState]] = []
    cloud = client(handler, clock=clock, seen=seen, minimum_calls=2, window_size=2, open_s=5.0)
    for _ in range(2):
        with pytest.raises(CloudRejectedError):
            await cloud.plan("hello")
    assert calls == 2
    started = time.monotonic()
    with pytest.raises(CloudUnavailableError) as info:
        await cloud.plan("hello")
    assert time.monotonic() - started < 0.05 and calls == 2
    assert info.value.retry_after_s == pytest.approx(5.0)
    healthy = True
    clock.advance(5.0)
    assert (await cloud.plan("hello")).plan_id == "p1"
    assert calls == 3
    assert seen == [(BreakerState.CLOSED, BreakerState.OPEN), (BreakerState.OPEN, BreakerState.HALF_OPEN),
                    (BreakerState.HALF_OPEN, BreakerState.CLOSED)]


async def test_bad_input_never_reaches_the_cloud() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=PLAN)

    cloud = client(handler)
    with pytest.raises(PayloadError, match="language"):
        await cloud.plan("hello", language="English")
    with pytest.raises(PayloadError, match="text"):
        await cloud.plan("")
    assert calls == [] and cloud.breaker.failure_rate is None


def test_settings_defaults_and_checks() -> None:
    s = CloudSettings()
    assert (s.url, s.token, s.timeout_s, s.breaker) == (None, None, 0.8, BreakerSettings())
    with pytest.raises(ValidationError, match="needs a token"):
        CloudSettings(url="https://cloud.test")
    with pytest.raises(ValidationError, match="https://"):
        CloudSettings(url="cloud.test", token=TOKEN)
    assert TOKEN not in repr(CloudSettings(url="https://cloud.test", token=TOKEN))
    with pytest.raises(ConfigError, match="no cloud"):
        CloudClient(s, "edge1")
