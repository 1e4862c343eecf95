"""Out-of-scope negatives: chatterbot-corpus chit-chat, HA's non-device intents, and assistant-style requests."""

from __future__ import annotations

import random
import re
from functools import lru_cache
from pathlib import Path

import chatterbot_corpus  # type: ignore[import-untyped]
import yaml  # type: ignore[import-untyped]

from autoglm.intent import negatives_en, negatives_zh
from autoglm.intent.phrasings_fill import SlotFill
from autoglm.intent.phrasings_ha import NON_DEVICE_INTENTS, HaPhrasings
from autoglm.intent.phrasings_sampler import Piece, Template, parse, parse_rules, sample

_CORPUS_FOLDER = {"en": "english", "zh-cn": "chinese"}
_SOURCES = {"en": (negatives_en.RULES, negatives_en.TEMPLATES, negatives_en.VOCAB),
            "zh-cn": (negatives_zh.RULES, negatives_zh.TEMPLATES, negatives_zh.VOCAB)}
_TEMPLATE_CHARS = re.compile(r"[{}\[\]<>|`\\\n]")


def vocab_for(language: str) -> dict[str, tuple[str, ...]]:
    """Negative vocabularies, also used for HA's wildcard lists (messages, list items, cities)."""
    return _SOURCES[language][2]


@lru_cache(maxsize=4)
def chatterbot_lines(language: str) -> tuple[str, ...]:
    """Distinct, short conversation lines of chatterbot-corpus, in file order."""
    folder = Path(chatterbot_corpus.__file__).parent / "data" / _CORPUS_FOLDER[language]
    seen: dict[str, None] = {}
    for path in sorted(folder.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conversation in data.get("conversations") or []:
            for line in conversation:
                text = " ".join(str(line).split())
                if _usable(text, language):
                    seen.setdefault(text, None)
    return tuple(seen)


def _usable(text: str, language: str) -> bool:
    if len(text) < 2 or _TEMPLATE_CHARS.search(text):
        return False
    if language == "en":
        return len(text.split()) <= 22 and any(c.isalpha() for c in text)
    return len(text) <= 40


class Negatives:
    """Samples out-of-scope sentences for one language from its three families."""

    def __init__(self, language: str, ha: HaPhrasings) -> None:
        rules_text, templates, vocab = _SOURCES[language]
        rules = parse_rules(rules_text)
        self.language = language
        self._ha = ha
        self._ha_intents = [i for i in NON_DEVICE_INTENTS if i in ha.intents()]
        self._templates: list[Template] = [parse(text, rules) for text in templates]
        self._fill = SlotFill(language, extra=vocab).filler(tag=False)
        self._chat = chatterbot_lines(language)

    def template(self, rng: random.Random) -> list[Piece]:
        """An assistant-style request that is not device control (source "negative")."""
        return sample(self._templates[rng.randrange(len(self._templates))], self._fill, rng)

    def ha_non_device(self, rng: random.Random) -> list[Piece]:
        """A sentence of one of HA's non-device intents (timers, weather, lists, ...)."""
        intent = self._ha_intents[rng.randrange(len(self._ha_intents))]
        return self._ha.sample(intent, rng, tag=False)

    def chatterbot(self, rng: random.Random) -> list[Piece]:
        """A chit-chat line from chatterbot-corpus."""
        return [Piece(self._chat[rng.randrange(len(self._chat))])]

    def chatterbot_size(self) -> int:
        """Distinct usable chatterbot lines."""
        return len(self._chat)
