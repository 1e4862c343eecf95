"""Compound requests: "turn off the kitchen lights and lock the front door", "关掉厨房的灯然后锁上前门".

The pipeline serves such a request at the edge only when every part is a local command; when one part is
local and another is not, the whole request goes to the cloud planner (never half of it done here).
"""

from __future__ import annotations

import re

#: At most this many parts; longer chains are the planner's job.
MAX_PARTS = 4
_EN = re.compile(r"\s*(?:,\s*)?\b(?:and then|and also|and|then|after that|also|plus)\b\s*|\s*[,;]\s*", re.I)
_ZH = re.compile(r"\s*(?:[，,；;]\s*)?(?:然后再|然后|并且|接着|之后|再把|同时|顺便)\s*|\s*[，,；;。]\s*")
_MIN_CHARS = {"en": 6, "zh-cn": 2}


def split_request(text: str, language: str) -> list[str]:
    """The parts of a compound request, or `[text]` when it is not one (or has too many parts)."""
    zh = not language.lower().startswith("en")
    pattern = _ZH if zh else _EN
    parts = [p.strip() for p in pattern.split(text) if p and p.strip()]
    if zh:  # "再把…" keeps its verb: put the 把 back ("然后再把门锁上" -> "把门锁上")
        parts = _rejoin_ba(text, parts)
    shortest = _MIN_CHARS["zh-cn" if zh else "en"]
    if len(parts) < 2 or len(parts) > MAX_PARTS or any(len(p) < shortest for p in parts):
        return [text]
    return parts


def _rejoin_ba(text: str, parts: list[str]) -> list[str]:
    out = []
    for part in parts:
        at = text.find(part)
        out.append("把" + part if at >= 2 and text[at - 2:at] == "再把" else part)
    return out
