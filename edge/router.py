"""Routes each inbound MQTT message to its owner by topic, and contains what a bad message raises."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from edge.ports import Bus, Message
from shared.errors import AutoGLMError, TopicError

#: Takes one message; acknowledges it itself (now, or once what it started is done).
Handler = Callable[[Message], Awaitable[None]]
#: The kind of a topic no fixed route names (a device's topic), with its handler; None: nobody owns it.
Owner = Callable[[str], tuple[str, Handler] | None]
#: Counts one message of a kind.
Counted = Callable[[str], None]
#: Counts and logs a message the edge could not take: topic, payload size, the error.
Rejected = Callable[[str, int, AutoGLMError], None]


class Router:
    """A table from topic to (kind, handler), then `owner` for device topics; errors end as counted rejections."""

    def __init__(self, routes: dict[str, tuple[str, Handler]], owner: Owner, *, counted: Counted,
                 rejected: Rejected, contain_errors: bool = True) -> None:
        """`contain_errors` is a safeguard only a negative control switches off: `handle` then raises."""
        self._routes = routes
        self._owner = owner
        self._counted = counted
        self._rejected = rejected
        self._contain_errors = contain_errors

    async def route(self, bus: Bus) -> None:
        """Handle every message `bus` delivers, in order, until cancelled."""
        async for message in bus.messages():
            await self.handle(message)

    async def handle(self, message: Message) -> None:
        """Dispatch one inbound message; a bad one is counted, logged and acknowledged, never raised."""
        try:
            await self.dispatch(message)
        except AutoGLMError as exc:
            if not self._contain_errors:
                raise
            # A StorageError is not redelivered either: an unacknowledged message would hold the broker's in-flight
            # window and stall every device while the disk is full (the twin keeps the value in memory).
            self._rejected(message.topic, len(message.payload), exc)
            message.ack()

    async def dispatch(self, message: Message) -> None:
        """Hand `message` to its owner; TopicError when nobody owns its topic."""
        route = self._routes.get(message.topic) or self._owner(message.topic)
        if route is None:
            raise TopicError(f"no handler for topic {message.topic!r}")
        kind, handler = route
        self._counted(kind)
        await handler(message)
