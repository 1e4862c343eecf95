"""Confirmation tokens: single use, expiring, bound to the held request."""

from __future__ import annotations

import pytest

from edge.guard.confirmations import ConfirmationError, Confirmations
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


def test_refused_tokens_say_why_expired_used_or_foreign() -> None:
    clock = Clock()
    store, other_edge = Confirmations(60, clock=clock), Confirmations(60, clock=clock)
    used, late = store.issue(Utterance(text="unlock the front door")), store.issue(Utterance(text="open the garage"))
    foreign = other_edge.issue(Utterance(text="unlock the front door"))
    store.redeem(used)
    clock.now += 61
    len(store)  # any use of the store forgets expired tokens; their reason is kept
    for token, reason in ((used, "already used"), (late, r"expired \(60 s\)"),
                          (foreign, "only on the edge that issued"), ("", "unknown")):
        with pytest.raises(ConfirmationError, match=reason):
            store.redeem(token)


def test_a_token_confirms_exactly_the_plan_it_was_issued_for() -> None:
    store = Confirmations(60, clock=Clock())
    token = store.issue(Utterance(text="let the plumber in"), plan_id="p1", plan_digest="abc")
    replay = store.redeem(token)
    assert replay.confirmed and replay.held_plan == ("p1", "abc") and replay.confirm_token is None
    local = store.redeem(store.issue(Utterance(text="unlock the front door")))
    assert local.confirmed and local.held_plan == (None, None)
