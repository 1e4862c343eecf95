"""Text as the stages see it: wake words and punctuation gone, width and spaces folded; its language."""

from __future__ import annotations

import re
import unicodedata

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WAKE = re.compile(r"^(?:(?:hey|hi|ok|okay)\s+)?(?:olly|alexa|google|siri|jarvis|glm|autoglm)\b[\s,，:]*", re.I)
_WAKE_ZH = re.compile(r"^(?:你好|嗨)?(?:小智|小爱同学|小度|天猫精灵)[\s,，:：]*")
_SPACES = re.compile(r"\s+")


def detect_language(text: str) -> str:
    """'zh-cn' when the text has Chinese characters, else 'en'."""
    return "zh-cn" if _CJK.search(text) else "en"


def normalize_text(text: str) -> str:
    """NFKC, collapse spaces, strip wake words and trailing punctuation."""
    text = unicodedata.normalize("NFKC", text).strip()
    text = _WAKE.sub("", text)
    text = _WAKE_ZH.sub("", text)
    text = _SPACES.sub(" ", text).strip(" .!?。！？,，")
    return text
