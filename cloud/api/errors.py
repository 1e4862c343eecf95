"""The one place project errors become HTTP answers: `{"error": {"code", "message"}}` with a fitting status."""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import (
    AuthError,
    AutoGLMError,
    ConfigError,
    ConflictError,
    ContractError,
    DeviceError,
    DeviceTimeoutError,
    DeviceUnavailableError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PlannerError,
    PlannerOverloadedError,
    PlannerTimeoutError,
    PlannerUnavailableError,
    PlanValidationError,
    StorageError,
    TransportError,
    UnknownDeviceError,
)

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying a 429 (queue full) or a 503 (planner, link or executor down).
RETRY_AFTER_S: Final = {429: 1, 503: 5}


class ErrorDetail(BaseModel):
    """What went wrong: a stable machine-readable code and a sentence for people."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


#: What each documented error status means, for the OpenAPI document.
_ERROR_MEANINGS: Final[dict[int, str]] = {
    400: "the body is not parseable (bad_request)", 401: "missing, malformed, unknown, expired or revoked token",
    403: "the token's role or sites do not allow this", 404: "not found, or outside the caller's sites",
    409: "conflicts with the resource's state", 413: "request body over the size limit (payload_too_large)",
    422: "invalid parameters or body (bad_request)", 429: "overloaded: retry after the Retry-After seconds",
    502: "the planner model failed", 503: "a dependency is unavailable: retry after the Retry-After seconds",
    504: "the planner or the edge did not answer in time",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses, all with the `ErrorBody` schema."""
    return {status: {"model": ErrorBody, "description": _ERROR_MEANINGS[status]} for status in statuses}


#: Errors any authenticated endpoint can answer (its body limit, parser, token check and validation).
PROTECTED_ERRORS: Final = error_responses(400, 401, 403, 413, 422)

#: Most specific first: the first isinstance match decides the status.
STATUS: Final[tuple[tuple[type[AutoGLMError], int], ...]] = (
    (AuthError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (UnknownDeviceError, 404),
    (ConflictError, 409),
    (PayloadTooLargeError, 413),
    (ContractError, 422),
    (PlanValidationError, 422),
    (PlannerOverloadedError, 429),
    (PlannerUnavailableError, 503),
    (PlannerTimeoutError, 504),
    (PlannerError, 502),
    (DeviceUnavailableError, 503),
    (DeviceTimeoutError, 504),
    (DeviceError, 409),
    (TransportError, 503),
    (StorageError, 500),
    (ConfigError, 500),
)


#: Codes whose status differs from their class's (a missing confirmation is a state conflict, not a role problem).
CODE_STATUS: Final[dict[str, int]] = {"confirmation_required": 409}


def status_of(exc: AutoGLMError) -> int:
    """HTTP status for a project error (500 when nothing more specific fits)."""
    if exc.code in CODE_STATUS:
        return CODE_STATUS[exc.code]
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 500)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The error body every endpoint uses."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


async def _project_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AutoGLMError)
    status = status_of(exc)
    if status >= 500:
        log.warning("request failed", extra={"error": str(exc), "code": exc.code, "path": request.url.path,
                                             "trace_id": getattr(request.state, "trace_id", None)})
    metrics = getattr(request.app.state, "metrics", None)
    if status in (401, 403) and metrics is not None:
        metrics.auth_failures.labels(exc.code).inc()
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status in RETRY_AFTER_S:
        headers = {"Retry-After": str(RETRY_AFTER_S[status])}
    return error_response(status, exc.code, str(exc), headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # A bug, not a client's fault: logged with its traceback, answered in the API's error shape without details.
    trace_id = getattr(request.state, "trace_id", None)
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path, "trace_id": trace_id})
    return error_response(500, "internal_error", f"internal server error (trace id {trace_id} in the server log)")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return error_response(422, "bad_request", "; ".join(problems) or "invalid request")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
            413: PayloadTooLargeError.code}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(AutoGLMError, _project_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
