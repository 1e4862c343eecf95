"""Text shown on a terminal, made harmless: what devices, users and the planner wrote cannot drive the terminal.

Device names come from discovery, replies quote what was said, plans and cloud errors come from the planner: any
of them may hold ANSI escape sequences (colours, cursor moves, OSC 8 links, window titles), other control
characters, or bidirectional overrides that reorder what is read. `shown` writes each such character as a visible
`\\uXXXX`, so the text stays readable and, inside a JSON string, stays valid JSON; everything else (Chinese
included) is left as it is.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import typer

#: Format characters that reorder or hide text (bidi embeddings, overrides, isolates, marks; BOM).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")


def _visible(char: str, keep: str) -> str:
    if char in keep or (unicodedata.category(char) != "Cc" and char not in _BIDI):
        return char
    return f"\\u{ord(char):04x}"


def shown(text: str, *, keep: str = "") -> str:
    """`text` with every control character (C0, DEL, C1: ESC starts every ANSI sequence) and bidi control
    written as `\\uXXXX`; `keep` names control characters to leave (such as newlines in multi-line output)."""
    return "".join(_visible(char, keep) for char in text)


def echo(text: str, *, keep: str = "", **kwargs: Any) -> None:
    """typer.echo of `shown(text)`."""
    typer.echo(shown(text, keep=keep), **kwargs)


def secho(text: str, *, keep: str = "", **kwargs: Any) -> None:
    """typer.secho of `shown(text)` (the colour is ours, not the text's)."""
    typer.secho(shown(text, keep=keep), **kwargs)
