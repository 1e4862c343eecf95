"""Pending confirmations: a held request gets a single-use token that expires; confirming replays it confirmed.

The token is what the user's app or satellite sends back (over MQTT as an utterance with `confirm_token`, or
`POST /v1/confirmations/{token}` on the edge's HTTP port); only the edge that issued it knows it, it works once,
and only until it expires, so a replayed or leaked token cannot unlock a door later.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from shared.decision import Utterance
from shared.errors import AutoGLMError


class ConfirmationError(AutoGLMError):
    """A confirmation token that is unknown, used already or expired."""

    code = "confirmation_invalid"


@dataclass(frozen=True, slots=True)
class Pending:
    """A held request waiting for its confirmation."""

    token: str
    utterance: Utterance
    expires_at: float  # on the store's clock


class Confirmations:
    """Single-use, expiring tokens for held requests (in memory: a restart cancels every pending confirmation)."""

    def __init__(self, ttl_s: float = 120.0, *, max_pending: int = 1000, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self._ttl_s = ttl_s
        self._max = max_pending
        self._clock = clock
        self._pending: OrderedDict[str, Pending] = OrderedDict()

    @property
    def ttl_s(self) -> float:
        """How long a token lives."""
        return self._ttl_s

    def issue(self, utterance: Utterance) -> str:
        """A fresh token for `utterance`; the oldest pending one is dropped beyond `max_pending`."""
        self._expire()
        token = secrets.token_urlsafe(12)
        self._pending[token] = Pending(token, utterance, self._clock() + self._ttl_s)
        while len(self._pending) > self._max:
            self._pending.popitem(last=False)
        return token

    def redeem(self, token: str) -> Utterance:
        """The held utterance, marked confirmed; the token is spent. ConfirmationError when it is not valid."""
        pending = self._pending.pop(token, None)
        if pending is None:
            raise ConfirmationError("unknown or already used confirmation token")
        if pending.expires_at <= self._clock():
            raise ConfirmationError(f"the confirmation expired ({self._ttl_s:g} s): ask again")
        return pending.utterance.model_copy(update={"confirmed": True, "confirm_token": None})

    def __len__(self) -> int:
        self._expire()
        return len(self._pending)

    def _expire(self) -> None:
        now = self._clock()
        for token in [t for t, p in self._pending.items() if p.expires_at <= now]:
            del self._pending[token]
