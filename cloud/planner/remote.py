"""The remote planner: any OpenAI-compatible server (vLLM, SGLang) with JSON-schema structured output."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from cloud.fleet import Device
from cloud.planner import catalogue, schema
from cloud.planner.local import parse_plan
from cloud.planner.prompt import render_messages
from shared.errors import (
    PlannerOverloadedError,
    PlannerTimeoutError,
    PlannerUnavailableError,
    PlanValidationError,
)
from shared.plan import Plan, PlanRequest

Describe = Callable[[Sequence[Device]], str]
SchemaFor = Callable[[Sequence[Device]], dict[str, Any]]


class OpenAIPlanner:
    """`cloud.fleet.Planner` over `POST {base_url}/chat/completions` with `response_format: json_schema`."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 30.0,
                 max_tokens: int = 1024, client: httpx.AsyncClient | None = None, describe: Describe | None = None,
                 schema_for: SchemaFor | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model_name = model
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._client = client or httpx.AsyncClient()
        self._headers = headers
        self._timeout = httpx.Timeout(timeout_s)
        self._max_tokens = max_tokens
        self._describe = describe or catalogue.describe
        self._schema_for = schema_for or schema.plan_schema

    def status(self) -> str:
        """Always "loaded": the server's health shows per request (503 when unreachable)."""
        return "loaded"

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def propose(self, request: PlanRequest, devices: list[Device], *, trace_id: str) -> Plan:
        """A plan from the remote model; transport problems become PlannerError subclasses."""
        body = {
            "model": self.model_name,
            "messages": render_messages(request.text, request.language, self._describe(devices)),
            "temperature": 0,
            "max_tokens": self._max_tokens,
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "plan", "schema": self._schema_for(devices), "strict": True}},
        }
        try:
            response = await self._client.post(self._url, json=body, timeout=self._timeout,
                                               headers={**self._headers, "X-Trace-ID": trace_id})
        except httpx.TimeoutException as exc:
            raise PlannerTimeoutError(f"the remote planner did not answer in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise PlannerUnavailableError(f"the remote planner is unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 429:
            raise PlannerOverloadedError("the remote planner is overloaded (429); retry later")
        if response.status_code >= 500:
            raise PlannerUnavailableError(f"the remote planner failed: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PlannerUnavailableError(f"the remote planner refused the request: HTTP {response.status_code}: "
                                          f"{response.text[:200]} (check openai_model and structured-output support)")
        return parse_plan(_content(response))


def _content(response: httpx.Response) -> str:
    """The first choice's message content; PlanValidationError when the answer has another shape."""
    try:
        choice = response.json()["choices"][0]
        content = choice["message"]["content"]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        raise PlanValidationError("the remote planner's answer is not a chat completion") from exc
    if choice.get("finish_reason") == "length":
        raise PlanValidationError("the remote plan was cut off at max_tokens")
    if not isinstance(content, str):
        raise PlanValidationError("the remote planner's answer has no text content")
    return content
