"""Numbers as people say them: digits, English words, Chinese numerals, percentages, "half"."""

from __future__ import annotations

import re

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "a": 1, "an": 1,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_SPECIAL = {"half": 50.0, "halfway": 50.0, "full": 100.0, "max": 100.0, "maximum": 100.0, "highest": 100.0,
            "minimum": 1.0, "min": 1.0, "lowest": 1.0, "一半": 50.0, "最大": 100.0, "最亮": 100.0, "最高": 100.0,
            "最小": 1.0, "最暗": 1.0, "最低": 1.0}
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_DIGITS = re.compile(r"-?\d+(?:\.\d+)?")


def parse_number(text: str) -> float | None:
    """The number in a short phrase ("50%", "fifty percent", "twenty five", "百分之五十", "二十二度")."""
    t = text.strip().casefold()
    if not t:
        return None
    for word, value in _SPECIAL.items():
        if t == word or t.startswith(word + " ") or t.endswith(" " + word):
            return value
    match = _DIGITS.search(t)
    if match:
        return float(match.group())
    if any(ch in _ZH_DIGITS or ch in _ZH_UNITS for ch in t):
        return _parse_zh(t)
    return _parse_en(t)


def _parse_en(text: str) -> float | None:
    total, current, seen = 0, 0, False
    for word in re.split(r"[\s-]+", text):
        if word in _UNITS:
            current += _UNITS[word]
            seen = True
        elif word in _TENS:
            current += _TENS[word]
            seen = True
        elif word == "hundred":
            current = max(current, 1) * 100
            seen = True
        elif word in ("and", "percent", "per", "cent", "%", "degrees", "degree", "celsius", "point"):
            continue
        elif seen:
            break
    total += current
    return float(total) if seen else None


def _parse_zh(text: str) -> float | None:
    text = text.replace("百分之", "")
    digits = "".join(ch for ch in text if ch in _ZH_DIGITS or ch in _ZH_UNITS)
    if not digits:
        return None
    total, current = 0, 0
    for ch in digits:
        if ch in _ZH_DIGITS:
            current = _ZH_DIGITS[ch]
        else:
            total += max(current, 1) * _ZH_UNITS[ch]
            current = 0
    return float(total + current)
