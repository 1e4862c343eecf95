"""OpenAIPlanner against a fake OpenAI-compatible server (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cloud.fleet import Device
from cloud.planner.remote import OpenAIPlanner
from shared.errors import PlannerOverloadedError, PlannerTimeoutError, PlannerUnavailableError, PlanValidationError
from shared.plan import PlanRequest

DEVICES = [Device("lock.front", "e1", "home", "lock", "Front door", "hall")]
PLAN = {"steps": [{"id": "s1", "tool": "lock.lock", "args": {"device_id": "lock.front"}, "after": []}]}
REQUEST = PlanRequest(text="lock up", edge_id="e1", language="en")


def completion(content: Any, finish_reason: str = "stop") -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": content}}]}


def planner(handler: Callable[[httpx.Request], httpx.Response]) -> OpenAIPlanner:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return OpenAIPlanner("http://vllm:8000/v1/", "glm-4-9b", api_key="sk-test", timeout_s=2.0, client=client)


async def test_a_plan_comes_back_and_the_request_asks_for_strict_json_schema() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion(json.dumps(PLAN)))

    remote = planner(handler)
    plan = await remote.propose(REQUEST, DEVICES, trace_id="trace-1")
    await remote.aclose()
    assert plan.model_dump() == PLAN
    (request,) = seen
    assert request.url == "http://vllm:8000/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.headers["X-Trace-ID"] == "trace-1"
    body = json.loads(request.content)
    assert body["model"] == "glm-4-9b" and body["temperature"] == 0
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert "lock.front" in json.dumps(fmt["json_schema"]["schema"])
    assert body["messages"][-1]["content"] == "[en] lock up"
    assert "lock.front" in body["messages"][0]["content"]


def raising(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def answering(status: int, payload: Any = None, text: str | None = None) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text)
        return httpx.Response(status, json=payload)

    return handler


@pytest.mark.parametrize(("handler", "error", "message"), [
    (raising(httpx.ReadTimeout("slow")), PlannerTimeoutError, "in time"),
    (raising(httpx.ConnectError("refused")), PlannerUnavailableError, "unreachable"),
    (answering(503, {"error": "down"}), PlannerUnavailableError, "HTTP 503"),
    (answering(429, {"error": "busy"}), PlannerOverloadedError, "429"),
    (answering(400, {"error": "no json_schema"}), PlannerUnavailableError, "HTTP 400"),
    (answering(200, text="<html>"), PlanValidationError, "not a chat completion"),
    (answering(200, {"choices": []}), PlanValidationError, "not a chat completion"),
    (answering(200, completion("{not json")), PlanValidationError, "not JSON"),
    (answering(200, completion('{"steps": "x"}')), PlanValidationError, "not a plan"),
    (answering(200, completion('{"steps": [', "length")), PlanValidationError, "cut off"),
    (answering(200, completion(None)), PlanValidationError, "no text"),
])
async def test_failures_become_planner_errors(handler: Callable[[httpx.Request], httpx.Response],
                                              error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        await planner(handler).propose(REQUEST, DEVICES, trace_id="t")
