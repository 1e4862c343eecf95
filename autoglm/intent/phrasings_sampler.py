"""A random sampler over hassil's parsed templates that remembers where every slot value lands.

`hassil.sample` enumerates every expansion, which is far too many; this walks the expression tree
once per sample, choosing one branch at each alternative. Output is a list of pieces (text, slot);
`render` joins them, normalises whitespace, and computes exact character spans.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from hassil.expression import (
    Alternative,
    Expression,
    Group,
    ListReference,
    Permutation,
    RuleReference,
    Sentence,
    TextChunk,
)
from hassil.parse_expression import parse_sentence

from shared.intent import Span


class Piece(NamedTuple):
    """A stretch of text; `slot` is the span type when the text is a slot value."""

    text: str
    slot: str | None = None


#: Fills a list reference: (list name, rng) -> the piece to insert.
Filler = Callable[[str, random.Random], Piece]

#: Chance of taking an optional `[...]`.
OPTIONAL_P = 0.5
_MAX_DEPTH = 40


class SampleError(ValueError):
    """A template references an unknown rule, or recursion ran away."""


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed sentence with the expansion rules it may use."""

    sentence: Sentence
    rules: dict[str, Sentence]


def parse(text: str, rules: dict[str, Sentence]) -> Template:
    """Parse a template in hassil syntax: (a|b), [optional], {list}, <rule>, (x;y) permutations."""
    return Template(parse_sentence(text, keep_text=True), rules)


def parse_rules(rules: dict[str, str], base: dict[str, Sentence] | None = None) -> dict[str, Sentence]:
    """Expansion rules in hassil syntax, layered over `base`."""
    parsed = dict(base or {})
    parsed.update({name: parse_sentence(body, keep_text=True) for name, body in rules.items()})
    return parsed


def sample(template: Template, fill: Filler, rng: random.Random) -> list[Piece]:
    """One random expansion of `template` as pieces."""
    out: list[Piece] = []
    _walk(template.sentence.expression, template.rules, fill, rng, out, 0)
    return out


def sample_text(expression: Expression, rules: dict[str, Sentence], rng: random.Random) -> str:
    """One random expansion of a list value's template ("(closed|shut)") as plain text."""
    out: list[Piece] = []
    _walk(expression, rules, _no_lists, rng, out, 0)
    return " ".join("".join(p.text for p in out).split())


def _no_lists(name: str, rng: random.Random) -> Piece:
    raise SampleError(f"list {{{name}}} inside a list value")


def _walk(exp: Expression, rules: dict[str, Sentence], fill: Filler, rng: random.Random,
          out: list[Piece], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise SampleError("template recursion too deep")
    if isinstance(exp, TextChunk):
        if exp.original_text:
            out.append(Piece(exp.original_text))
    elif isinstance(exp, Alternative):
        items = exp.items
        if exp.is_optional:
            # hassil puts the empty branch last: [a|b] is (a|b|"").
            if rng.random() >= OPTIONAL_P:
                return
            items = items[:-1] or items
        _walk(items[rng.randrange(len(items))], rules, fill, rng, out, depth + 1)
    elif isinstance(exp, Permutation):
        order = list(exp.items)
        rng.shuffle(order)
        for item in order:
            _walk(item, rules, fill, rng, out, depth + 1)
    elif isinstance(exp, Group):
        for item in exp.items:
            _walk(item, rules, fill, rng, out, depth + 1)
    elif isinstance(exp, RuleReference):
        rule = rules.get(exp.rule_name)
        if rule is None:
            raise SampleError(f"unknown rule <{exp.rule_name}>")
        _walk(rule.expression, rules, fill, rng, out, depth + 1)
    elif isinstance(exp, ListReference):
        out.append(fill(exp.list_name, rng))
    else:
        raise SampleError(f"unexpected expression {type(exp).__name__}")


def _is_cjk_side(ch: str) -> bool:
    return not ch.isascii()


def render(pieces: list[Piece], language: str) -> tuple[str, list[Span]]:
    """Join pieces into text with single spaces (none between Chinese characters) and exact spans."""
    chars: list[str] = []
    tags: list[int] = []
    slots: list[str] = []
    for piece in pieces:
        text = piece.text.strip() if piece.slot else piece.text
        if not text:
            continue
        tag = -1
        if piece.slot:
            slots.append(piece.slot)
            tag = len(slots) - 1
        for ch in text:
            chars.append(" " if ch.isspace() else ch)
            tags.append(tag)
    # Collapse whitespace; drop it at the ends and, in Chinese, next to a non-ASCII character.
    kept_c: list[str] = []
    kept_t: list[int] = []
    for i, ch in enumerate(chars):
        if ch == " ":
            if not kept_c or kept_c[-1] == " ":
                continue
            if language != "en":
                nxt = next((c for c in chars[i + 1:] if c != " "), "")
                if _is_cjk_side(kept_c[-1]) or (nxt and _is_cjk_side(nxt)):
                    continue
        kept_c.append(ch)
        kept_t.append(tags[i])
    while kept_c and kept_c[-1] == " ":
        kept_c.pop()
        kept_t.pop()
    text = "".join(kept_c)
    spans: list[Span] = []
    i = 0
    while i < len(kept_t):
        tag = kept_t[i]
        if tag < 0:
            i += 1
            continue
        j = i
        while j < len(kept_t) and kept_t[j] == tag:
            j += 1
        # A space kept inside a span run is fine; one at its edge belongs outside.
        start, end = i, j
        while start < end and text[start] == " ":
            start += 1
        while end > start and text[end - 1] == " ":
            end -= 1
        if end > start:
            spans.append(Span(slot=slots[tag], start=start, end=end))
        i = j
    return text, spans
