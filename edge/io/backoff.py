"""Capped exponential backoff with full jitter, for reconnect loops."""

from __future__ import annotations

import random
from collections.abc import Callable

from shared.errors import ConfigError

#: Past this exponent the ceiling is the cap anyway; bounding it keeps 2**n from overflowing a float.
_MAX_EXPONENT = 62


class Backoff:
    """Retry delays: attempt n (from 0) waits uniformly in [0, min(cap_s, base_s * 2**n)] ("full jitter")."""

    # Full jitter spreads the reconnects of many edges that lost the same peer at the same moment.
    # `rand` returns a float in [0, 1); tests inject a seeded `random.Random(...).random`.
    def __init__(self, base_s: float = 0.5, cap_s: float = 30.0, *,
                 rand: Callable[[], float] = random.random) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ConfigError(f"backoff needs 0 < base_s <= cap_s, got base_s={base_s}, cap_s={cap_s}")
        self.base_s = base_s
        self.cap_s = cap_s
        self._rand = rand
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """How many delays were handed out since the last reset."""
        return self._attempt

    def ceiling(self, attempt: int) -> float:
        """The longest wait attempt `attempt` may get."""
        return min(self.cap_s, self.base_s * 2.0 ** min(max(attempt, 0), _MAX_EXPONENT))

    def next_delay(self) -> float:
        """The wait before the next retry; each call moves one attempt further."""
        delay = self._rand() * self.ceiling(self._attempt)
        self._attempt += 1
        return delay

    def reset(self) -> None:
        """Start again from the shortest waits (call it once a connection is up)."""
        self._attempt = 0
