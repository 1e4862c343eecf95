"""Confirmation tokens: single use, expiring, bound to the held request."""

from __future__ import annotations

import pytest

from edge.confirmations import ConfirmationError, Confirmations
from shared.decision import Utterance


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_replays_its_request_confirmed_once() -> None:
    store = Confirmations(60, clock=Clock())
    held = Utterance(text="unlock the front door", user="bob")
    token = store.issue(held)
    replay = store.redeem(token)
    assert (replay.text, replay.user, replay.trace_id, replay.confirmed) == (held.text, "bob", held.trace_id, True)
    with pytest.raises(ConfirmationError, match="already used"):
        store.redeem(token)


def test_a_token_expires() -> None:
    clock = Clock()
    store = Confirmations(60, clock=clock)
    token = store.issue(Utterance(text="unlock the front door"))
    clock.now += 61
    with pytest.raises(ConfirmationError, match=r"expired|unknown"):
        store.redeem(token)
    assert len(store) == 0


def test_tokens_are_unguessable_and_bounded() -> None:
    store = Confirmations(60, max_pending=2, clock=Clock())
    tokens = [store.issue(Utterance(text=f"unlock door {i}")) for i in range(3)]
    assert len(set(tokens)) == 3 and all(len(t) >= 16 for t in tokens)
    assert len(store) == 2
    with pytest.raises(ConfirmationError):
        store.redeem(tokens[0])  # the oldest was dropped
    with pytest.raises(ConfirmationError):
        store.redeem("made-up-token")
