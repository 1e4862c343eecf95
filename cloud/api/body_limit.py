"""A request-body size limit in front of the app: over the limit is a 413 before the body is read or parsed.

A declared `Content-Length` over the limit is refused at once; a body without one (chunked) is counted as it
arrives and refused as soon as it passes the limit, so a client cannot make the server hold a 50 MB body in memory.
Pure ASGI (no BaseHTTPMiddleware): the body is never buffered here.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.api.errors import error_response
from shared.errors import PayloadTooLargeError


class BodyTooLarge(HTTPException):
    """Raised inside `receive` when a streamed body passes the limit (FastAPI lets HTTPExceptions through)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body over {max_bytes} bytes")


class BodyLimit:
    """Refuse HTTP request bodies over `max_bytes` with the API's 413 `payload_too_large` error."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, PayloadTooLargeError.code, f"request body over {self.max_bytes} bytes",
                                  {"Connection": "close"})
        await response(scope, receive, send)
