"""Our own templates for in-scope labels, for phrasings HA's templates lack (relative brightness, coffee, ...)."""

from __future__ import annotations

import random

from autoglm.intent import phrasings_en, phrasings_zh
from autoglm.intent.phrasings_fill import SlotFill, reads_well
from autoglm.intent.phrasings_sampler import Piece, Template, parse, parse_rules, sample

_SOURCES = {"en": (phrasings_en.RULES, phrasings_en.TEMPLATES), "zh-cn": (phrasings_zh.RULES, phrasings_zh.TEMPLATES)}


class GenericPhrasings:
    """Random sentences from our own templates for one language."""

    def __init__(self, language: str) -> None:
        rules_text, templates = _SOURCES[language]
        rules = parse_rules(rules_text)
        self.language = language
        self._templates: dict[str, list[Template]] = {
            label: [parse(text, rules) for text in texts] for label, texts in templates.items()}
        self._fill = SlotFill(language).filler()

    def labels(self) -> list[str]:
        """Labels with templates."""
        return list(self._templates)

    def sample(self, label: str, rng: random.Random, tries: int = 8) -> list[Piece]:
        """One sentence for `label`."""
        pool = self._templates[label]
        pieces: list[Piece] = []
        for _ in range(tries):
            pieces = sample(pool[rng.randrange(len(pool))], self._fill, rng)
            if reads_well(pieces, self.language):
                break
        return pieces
