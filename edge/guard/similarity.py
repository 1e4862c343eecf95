"""How alike a request is to what one user asked before: cosine of character 3-grams and of action tokens.

Dependency-free and cheap (a few hundred sparse dot products per request): no model, so it runs on any
gateway and explains itself. Text and actions are compared separately and averaged, so a new phrasing of a
familiar command, or a familiar phrasing aimed at a familiar device, still scores as familiar.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Character n-gram lengths: 3 for alphabetic text (word pieces), 2 for Chinese, whose words are mostly two
#: characters long (bigrams are the usual unit for Chinese character-n-gram retrieval).
GRAM = 3
CJK_GRAM = 2
_SEPARATORS = re.compile(r"[\W_]+")  # CJK characters are \w, so Chinese text keeps its characters
_CJK_RUNS = re.compile(r"([\u3400-\u9fff\uf900-\ufaff]+)")


@dataclass(frozen=True, slots=True)
class Vector:
    """Sparse feature weights with their Euclidean norm, ready for cosine."""

    weights: Mapping[str, float]
    norm: float

    @classmethod
    def of(cls, weights: Mapping[str, float]) -> Vector:
        """A vector over `weights` (zero weights dropped)."""
        kept = {k: float(w) for k, w in weights.items() if w}
        return cls(kept, math.sqrt(sum(w * w for w in kept.values())))


def cosine(a: Vector, b: Vector) -> float:
    """Cosine similarity in [0, 1] for non-negative weights; 0 when either side is empty."""
    if not a.norm or not b.norm:
        return 0.0
    small, large = (a, b) if len(a.weights) <= len(b.weights) else (b, a)
    dot = sum(w * large.weights.get(k, 0.0) for k, w in small.weights.items())
    return min(1.0, dot / (a.norm * b.norm))


def text_grams(text: str) -> Counter[str]:
    """Character n-gram counts of the text, case- and width-folded, punctuation as word breaks."""
    folded = _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()
    grams: Counter[str] = Counter()
    for i, run in enumerate(_CJK_RUNS.split(folded)):  # odd pieces are Chinese runs
        run = run.strip()
        if run:
            n = CJK_GRAM if i % 2 else GRAM
            padded = f" {run} "  # edges become features, so "on" and "only" differ
            grams.update(padded[j:j + n] for j in range(len(padded) - n + 1))
    return grams


@dataclass(frozen=True, slots=True)
class Shape:
    """A request as the similarity measure sees it: its words and its actions."""

    text: Vector
    actions: Vector

    @classmethod
    def of(cls, text: str, action_tokens: Iterable[str]) -> Shape:
        """The shape of a request from its text and tokens naming what it does (intent, command, device...)."""
        return cls(Vector.of(text_grams(text)), Vector.of(Counter(action_tokens)))


def similarity(a: Shape, b: Shape) -> float:
    """Mean of the text and action cosines; the text cosine alone when either side commands nothing."""
    text = cosine(a.text, b.text)
    if not a.actions.norm or not b.actions.norm:
        return text
    return (text + cosine(a.actions, b.actions)) / 2


class History:
    """One user's last `size` request shapes, and how close a new request comes to the nearest of them."""

    def __init__(self, size: int) -> None:
        self._shapes: deque[Shape] = deque(maxlen=size)

    def __len__(self) -> int:
        return len(self._shapes)

    def add(self, shape: Shape) -> None:
        """Remember a request (the oldest goes once the history is full)."""
        self._shapes.append(shape)

    def nearest(self, shape: Shape) -> float:
        """Mean of the best text match and the best action match among remembered requests; 0.0 when empty.

        Nearest words and nearest actions may come from different requests: a familiar command in new words
        ("把窗帘拉开" after "打开客厅的窗帘"), or familiar words for a familiar device, is still familiar. Taking the
        single nearest request instead held twice as many benign requests in bench/anomaly.py for the same catch.
        """
        if not self._shapes:
            return 0.0
        text = max(cosine(shape.text, seen.text) for seen in self._shapes)
        if not shape.actions.norm:
            return text
        actions = [cosine(shape.actions, seen.actions) for seen in self._shapes if seen.actions.norm]
        return (text + max(actions)) / 2 if actions else text
