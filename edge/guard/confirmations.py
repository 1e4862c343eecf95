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
    plan_id: str | None = None  # the cloud plan the user was shown (the confirmation runs exactly that one)
    plan_digest: str | None = None  # shared.confirmation.plan_digest of the plan shown (cloud or cached)


class Confirmations:
    """Single-use, expiring tokens for held requests (in memory: a restart cancels every pending confirmation)."""

    def __init__(self, ttl_s: float = 120.0, *, max_pending: int = 1000, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self._ttl_s = ttl_s
        self._max = max_pending
        self._clock = clock
        self._pending: OrderedDict[str, Pending] = OrderedDict()
        self._gone: OrderedDict[str, str] = OrderedDict()  # recently spent, expired or dropped tokens: why

    @property
    def ttl_s(self) -> float:
        """How long a token lives."""
        return self._ttl_s

    def issue(self, utterance: Utterance, *, plan_id: str | None = None, plan_digest: str | None = None) -> str:
        """A fresh token for `utterance` (held for the plan `plan_id`/`plan_digest` when a plan was shown); the
        oldest pending one is dropped beyond `max_pending`."""
        self._expire()
        token = secrets.token_urlsafe(12)
        self._pending[token] = Pending(token, utterance, self._clock() + self._ttl_s, plan_id, plan_digest)
        while len(self._pending) > self._max:
            self._forget(self._pending.popitem(last=False)[0], "was dropped (too many pending confirmations)")
        return token

    def redeem(self, token: str) -> Utterance:
        """The held utterance, confirmed for the plan it was held for; the token is spent. ConfirmationError when
        it is not valid (unknown, used, expired or another edge's)."""
        self._expire()
        pending = self._pending.pop(token, None)
        if pending is None:
            why = self._gone.get(token)
            raise ConfirmationError(f"the confirmation token {why}: ask again" if why is not None else
                                    "unknown confirmation token (a token works once, only on the edge that issued "
                                    "it, until it expires): ask again")
        self._forget(token, "was already used")
        return pending.utterance.confirmed_by_token(plan_id=pending.plan_id, plan_digest=pending.plan_digest)

    def __len__(self) -> int:
        self._expire()
        return len(self._pending)

    def _expire(self) -> None:
        now = self._clock()
        for token in [t for t, p in self._pending.items() if p.expires_at <= now]:
            del self._pending[token]
            self._forget(token, f"expired ({self._ttl_s:g} s)")

    def _forget(self, token: str, why: str) -> None:
        self._gone[token] = why
        while len(self._gone) > self._max:
            self._gone.popitem(last=False)
