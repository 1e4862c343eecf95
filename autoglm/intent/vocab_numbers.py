"""Numbers as people say them: digits, English words and Chinese numerals, for number slots."""

from __future__ import annotations

import random

_EN_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
             "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ZH_DIGITS = "零一二三四五六七八九"


def en_words(n: int) -> str:
    """0..999 in English words ("twenty five", "one hundred")."""
    if n < 20:
        return _EN_UNITS[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _EN_TENS[tens] + (f" {_EN_UNITS[unit]}" if unit else "")
    hundreds, rest = divmod(n, 100)
    head = f"{_EN_UNITS[hundreds]} hundred"
    return head if not rest else f"{head} {en_words(rest)}"


def zh_numeral(n: int, *, two: str = "二") -> str:
    """0..999 in Chinese numerals ("二十五", "一百", "十五")."""
    if n < 10:
        return two if n == 2 else _ZH_DIGITS[n]
    if n < 20:
        return "十" + (_ZH_DIGITS[n - 10] if n % 10 else "")
    if n < 100:
        tens, unit = divmod(n, 10)
        return _ZH_DIGITS[tens] + "十" + (_ZH_DIGITS[unit] if unit else "")
    hundreds, rest = divmod(n, 100)
    head = ("两" if hundreds == 2 else _ZH_DIGITS[hundreds]) + "百"
    if not rest:
        return head
    if rest < 10:
        return head + "零" + _ZH_DIGITS[rest]
    return head + (zh_numeral(rest) if rest >= 20 else "一" + zh_numeral(rest))


def say_number(value: float, language: str, rng: random.Random, *, words: float = 0.45) -> str:
    """`value` as digits or words; halves become "21.5" / "twenty one point five" / "二十一点五"."""
    whole = int(value)
    half = value - whole >= 0.5
    if rng.random() >= words:
        return f"{whole}.5" if half else str(whole)
    if language == "en":
        return en_words(whole) + (" point five" if half else "")
    return zh_numeral(whole) + ("点五" if half else "")


def percent(rng: random.Random) -> int:
    """A percentage people say: mostly round numbers."""
    roll = rng.random()
    if roll < 0.55:
        return rng.choice((10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100))
    if roll < 0.8:
        return rng.randrange(5, 100, 5)
    return rng.randint(1, 100)


def temperature(language: str, rng: random.Random) -> float:
    """A thermostat set point: Celsius mostly, Fahrenheit sometimes in English, an occasional half degree."""
    if language == "en" and rng.random() < 0.3:
        return float(rng.randint(60, 80))
    value = float(rng.randint(16, 30))
    return value + 0.5 if rng.random() < 0.08 else value
