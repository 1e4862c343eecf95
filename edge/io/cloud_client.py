"""The edge's client for the cloud planner: `POST /v1/plan` over HTTPS with this edge's token, behind a breaker.

httpx exceptions and non-2xx answers become CloudError subclasses here and nowhere else. Answers that say the
cloud is unwell (unreachable, timeouts, 408, 429, 5xx, an unreadable answer) count against the circuit breaker;
refusals of this one request (401, 403, 404, 422) do not: the cloud is up and retrying cannot fix them.
"""

from __future__ import annotations

import math
import re
import time
from types import TracebackType
from typing import Final, Self, TypeVar

import httpx
from pydantic import BaseModel

from edge.config import CloudSettings
from edge.io.breaker import BreakerState, CircuitBreaker, CircuitOpenError, Clock, StateListener
from edge.ports import (
    CloudBadResponseError,
    CloudRejectedError,
    CloudTimeoutError,
    CloudUnavailableError,
    CloudUnreachableError,
    counts_against_cloud,
)
from shared.codec import decode, parse_json, validate
from shared.errors import ConfigError, PayloadError
from shared.plan import PlanRequest, PlanResponse, PlanStatus

PLAN_PATH: Final = "/v1/plan"
RUN_PATH: Final = "/v1/plans/{plan_id}/run"
PLAN_DETAIL_PATH: Final = "/v1/plans/{plan_id}"
HEALTH_PATH: Final = "/healthz"
M = TypeVar("M", bound=BaseModel)
_PLAN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class _RunAnswer(BaseModel):
    """The part of the cloud's plan detail the edge reads after `run`."""

    status: PlanStatus
#: The cloud's trace header (cloud.api.deps.TRACE_HEADER; the edge may not import the cloud).
TRACE_HEADER: Final = "X-Trace-ID"


class CloudClient:
    """Asks the cloud planner for plans on behalf of one edge; build one per daemon, close it on shutdown."""

    def __init__(self, settings: CloudSettings, edge_id: str, *, transport: httpx.AsyncBaseTransport | None = None,
                 clock: Clock = time.monotonic, on_state_change: StateListener | None = None) -> None:
        if settings.url is None or settings.token is None:
            raise ConfigError("no cloud configured (edge.cloud.url): build a CloudClient only when there is one")
        self._url = settings.url
        self._edge_id = edge_id
        self._timeout_s = settings.timeout_s
        self.breaker = CircuitBreaker(settings.breaker, name="cloud", clock=clock, on_state_change=on_state_change,
                                      is_failure=counts_against_cloud)
        self._http = httpx.AsyncClient(
            base_url=settings.url, transport=transport, timeout=settings.timeout_s,
            headers={"Authorization": f"Bearer {settings.token.get_secret_value()}", "Accept": "application/json"})

    async def plan(self, text: str, *, language: str = "en", trace_id: str | None = None) -> PlanResponse:
        """A plan for `text` from the cloud; raises CloudError subclasses (never httpx's), PayloadError on bad input."""
        body = validate(PlanRequest, {"text": text, "edge_id": self._edge_id, "language": language})
        return await self._guarded(PLAN_PATH, body.model_dump(mode="json"), PlanResponse, trace_id)

    async def run(self, plan_id: str, *, confirm: bool = False, trace_id: str | None = None) -> PlanStatus:
        """Ask the cloud to run a plan it proposed (its executor sends the device commands back to this edge)."""
        if not _PLAN_ID.match(plan_id):
            raise PayloadError(f"not a plan id: {plan_id!r}")
        run = await self._guarded(RUN_PATH.format(plan_id=plan_id), {"confirm": confirm}, _RunAnswer, trace_id)
        return run.status

    async def plan_of(self, plan_id: str, *, trace_id: str | None = None) -> PlanResponse:
        """A plan the cloud proposed, as it stands now (`GET /v1/plans/{id}`): what a confirmation checks."""
        if not _PLAN_ID.match(plan_id):
            raise PayloadError(f"not a plan id: {plan_id!r}")
        return await self._guarded(PLAN_DETAIL_PATH.format(plan_id=plan_id), None, PlanResponse, trace_id)

    @property
    def ready(self) -> bool:
        """True while the breaker is closed: requests may wait for the cloud."""
        return self.breaker.state is BreakerState.CLOSED

    async def probe(self) -> None:
        """One liveness call (`GET /healthz`) through the breaker: how a half-open breaker closes again."""
        async def get() -> None:
            try:
                response = await self._http.get(HEALTH_PATH)
            except httpx.HTTPError as exc:
                raise CloudUnreachableError(f"cannot reach the cloud at {self._url}: {type(exc).__name__}") from None
            if not response.is_success:
                raise _rejected(response)

        try:
            await self.breaker.call(get, timeout_s=self._timeout_s)
        except CircuitOpenError as exc:
            raise CloudUnavailableError(str(exc), retry_after_s=exc.retry_after_s) from None
        except TimeoutError:
            raise CloudTimeoutError(f"the cloud did not answer within {self._timeout_s}s") from None

    async def _guarded(self, path: str, body: dict[str, object] | None, model: type[M], trace_id: str | None
                       ) -> M:
        headers = {TRACE_HEADER: trace_id} if trace_id else {}
        try:
            return await self.breaker.call(lambda: self._post(path, body, model, headers), timeout_s=self._timeout_s)
        except CircuitOpenError as exc:
            raise CloudUnavailableError(str(exc), retry_after_s=exc.retry_after_s) from None
        except TimeoutError:
            raise CloudTimeoutError(f"the cloud did not answer within {self._timeout_s}s") from None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def _post(self, path: str, body: dict[str, object] | None, model: type[M], headers: dict[str, str]
                    ) -> M:
        """POST `body`, or GET when there is none; the answer as `model`."""
        try:
            response = await (self._http.post(path, json=body, headers=headers) if body is not None
                              else self._http.get(path, headers=headers))
        except httpx.TimeoutException as exc:
            raise CloudTimeoutError(f"the cloud did not answer within {self._timeout_s}s ({type(exc).__name__})"
                                    ) from None
        except httpx.TransportError as exc:
            raise CloudUnreachableError(f"cannot reach the cloud at {self._url}: {type(exc).__name__}: {exc}"
                                        ) from None
        except httpx.HTTPError as exc:  # decoding errors, redirect loops: an answer, but not a usable one
            raise CloudBadResponseError(f"unusable answer from the cloud: {type(exc).__name__}: {exc}") from None
        if not response.is_success:
            raise _rejected(response)
        try:
            return decode(model, response.content)
        except PayloadError as exc:
            raise CloudBadResponseError(f"the cloud's answer is not a valid {model.__name__}: {exc}") from None


def _rejected(response: httpx.Response) -> CloudRejectedError:
    """The error for a non-2xx answer, reading the cloud's `{"error": {"code", "message"}}` body when it has one."""
    server_code, message = None, response.reason_phrase or "no reason given"
    try:
        error = parse_json(response.content).get("error")
    except (PayloadError, AttributeError):  # not JSON (a proxy's HTML page), or JSON that is not an object
        error = None
    if isinstance(error, dict):
        server_code = error["code"] if isinstance(error.get("code"), str) else None
        message = error["message"] if isinstance(error.get("message"), str) else message
    retry_after: float | None = None
    try:
        retry_after = float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        pass  # absent, or an HTTP date: the breaker's own wait applies
    if retry_after is not None and not 0 <= retry_after < math.inf:
        retry_after = None
    return CloudRejectedError(response.status_code, server_code=server_code, message=message,
                              retry_after_s=retry_after)
