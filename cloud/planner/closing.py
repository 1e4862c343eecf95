"""Budget-aware grammar decoding: finish a constrained output within its token budget, whatever the model says.

A `Closer` computes a closing path from a matcher state: the tokens that end the grammar soonest by a fixed rule
(take the text the grammar forces; else prefer `"`, `]`, `}`, `,`, then digits, then the shortest allowed token).
The runner keeps the invariant "tokens used + closing path <= budget" in a row's last `window` tokens: it takes
the model's token only when the path from the state after it still fits, and otherwise follows the path it has,
which fits by the invariant. So a row whose first path fits in its window ends inside its budget. With a finite
grammar (plan grammars are) every path is finite; `max_steps` bounds the search for other grammars.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import numpy as np
import torch
import xgrammar as xgr
from transformers import PreTrainedTokenizerBase

#: Characters tried first when the grammar leaves a choice: they end strings, arrays, objects and numbers.
CLOSERS: Final = '"]},0123456789'


class Closer:
    """Closing paths of grammar states for one tokenizer."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, info: xgr.TokenizerInfo, *, max_steps: int = 512) -> None:
        self.tokenizer = tokenizer
        self.max_steps = max_steps
        self.vocab_size = info.vocab_size
        self._bitmask = xgr.allocate_token_bitmask(1, info.vocab_size)
        lengths = [len(piece) if piece else 1 << 20 for piece in info.decoded_vocab]
        lengths += [1 << 20] * (info.vocab_size - len(lengths))
        self._lengths = np.asarray(lengths[: info.vocab_size], dtype=np.int64)
        self._preferred: list[int] = []
        for char in CLOSERS:
            ids = tokenizer.encode(char, add_special_tokens=False)
            if len(ids) == 1 and ids[0] < info.vocab_size:
                self._preferred.append(int(ids[0]))

    def path(self, matcher: xgr.GrammarMatcher) -> list[int] | None:
        """Tokens that take (a fork of) `matcher` to the end of its grammar; None when none found in max_steps."""
        fork = matcher.fork()
        tokens: list[int] = []
        while not fork.is_terminated():
            if len(tokens) >= self.max_steps:
                return None
            for token in self._candidates(fork):
                if fork.accept_token(token):
                    tokens.append(token)
                    break
            else:
                return None
        return tokens

    def _candidates(self, matcher: xgr.GrammarMatcher) -> Iterator[int]:
        forced = matcher.find_jump_forward_string()
        if forced:
            ids = self.tokenizer.encode(forced, add_special_tokens=False)
            if ids:
                yield int(ids[0])  # a prefix of text the grammar forces
        matcher.fill_next_token_bitmask(self._bitmask, 0)
        allowed = allowed_tokens(self._bitmask[0], self.vocab_size)
        yield from (token for token in self._preferred if allowed[token])
        candidates = np.flatnonzero(allowed)
        if candidates.size:
            yield int(candidates[np.argmin(self._lengths[candidates])])  # the shortest; ties: the lowest id


def allowed_tokens(bitmask_row: torch.Tensor, vocab_size: int) -> np.ndarray:
    """One xgrammar bitmask row as a boolean array over the vocabulary."""
    words = bitmask_row.numpy().view(np.uint8)
    return np.unpackbits(words, bitorder="little")[:vocab_size].astype(bool)
