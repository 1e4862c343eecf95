"""What the engine loop and a model runner exchange: one batch of generation requests and their outputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One prompt to complete, constrained by JSON-schema text (`schema`) or an xgrammar EBNF (`grammar`), or free."""

    prompt: str
    schema: str | None
    max_new_tokens: int
    grammar: str | None = None


@dataclass(frozen=True, slots=True)
class GenerationOutput:
    """One completion: its text (special tokens removed), token count, why it ended, and seconds to its first token."""

    text: str
    tokens: int
    finish_reason: FinishReason
    first_token_s: float


class BatchRunner(Protocol):
    """Runs one batch to completion on the calling thread (the engine calls it from a worker thread)."""

    def generate(self, batch: Sequence[GenerationRequest], *,
                 should_stop: Callable[[int], bool]) -> list[GenerationOutput]:
        """Outputs in `batch` order; rows for which `should_stop(row)` turns true end early as "cancelled"."""
        ...
