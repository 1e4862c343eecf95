"""Values for template lists ({name}, {area}, {brightness}, HA's own lists): our vocabularies plus HA's."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping

from hassil.expression import Sentence
from hassil.intents import RangeSlotList, SlotList, TextSlotList

from autoglm.intent import vocab
from autoglm.intent.phrasings_sampler import Filler, Piece, SampleError, render, sample_text
from autoglm.intent.vocab_numbers import percent, say_number, temperature

#: How often a domain is drawn when a template allows several ("turn on {name}").
DOMAIN_WEIGHT: dict[str, float] = {
    "light": 3.0, "switch": 2.5, "fan": 1.2, "media_player": 1.2, "climate": 0.8, "cover": 1.0, "lock": 1.0,
    "vacuum": 1.0, "sensor": 1.0, "binary_sensor": 0.8, "valve": 0.3, "input_boolean": 0.25, "button": 0.3,
    "script": 0.4, "scene": 0.8, "person": 0.6,
}
_PERCENT_LISTS = frozenset({"brightness", "position", "volume", "volume_percentage", "percent", "fan_speed",
                            "volume_step_up", "volume_step_down"})
#: HA lists whose value is one of our slots.
_HA_LIST_SLOT = {"color": "color", "cover_classes": "name", "brightness_level": "number"}
_ASCII_WORD = re.compile(r"[A-Za-z]")
#: "二楼楼", "百分之50%", "百分之50": what a template plus our values can produce but nobody says.
_ZH_AWKWARD = re.compile(r"[楼层上下][楼层]|百分之[^%]*%|百分之\d")
_EN_DOUBLE = re.compile(r"\b(\w+) \1\b")


def reads_well(pieces: list[Piece], language: str) -> bool:
    """False for a sample that a template allows but nobody says ("floor floor", "set客厅")."""
    text, _ = render(pieces, language)
    if language == "en":
        return not _EN_DOUBLE.search(text)
    # HA's zh templates carry a few English verbs ("set", "make") that no Chinese speaker says.
    literal = "".join(p.text for p in pieces if not p.slot)
    return not _ASCII_WORD.search(literal) and not _ZH_AWKWARD.search(text)


class SlotFill:
    """Builds fillers for one language from our vocabularies, HA's lists and extra (negative) vocabularies."""

    def __init__(self, language: str, ha_lists: Mapping[str, SlotList] | None = None,
                 ha_rules: Mapping[str, Sentence] | None = None,
                 extra: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self.language = language
        self._ha_lists = dict(ha_lists or {})
        self._ha_rules = dict(ha_rules or {})
        self._extra = dict(extra or {})
        # Speech recognisers write Chinese numbers as numerals more often than English ones as words.
        self._words = 0.7 if language != "en" else 0.45

    def filler(self, domains: tuple[str, ...] = vocab.ON_OFF_DOMAINS, *, tag: bool = True) -> Filler:
        """A filler drawing `{name}` from `domains`; `tag=False` marks nothing (negatives)."""
        weights = [DOMAIN_WEIGHT.get(d, 1.0) for d in domains]

        def fill(list_name: str, rng: random.Random) -> Piece:
            piece = self._value(list_name, domains, weights, rng)
            return piece if tag else Piece(piece.text)

        return fill

    def _value(self, list_name: str, domains: tuple[str, ...], weights: list[float], rng: random.Random) -> Piece:
        lang = self.language
        names = vocab.NAMES[lang]
        if list_name == "name" and domains:
            domain = rng.choices(domains, weights)[0]
            domain = "button" if domain == "input_button" else domain
            if domain in names:
                return Piece(vocab.pick(rng, names[domain]), "name")
            if domain in self._extra:
                return Piece(vocab.pick(rng, self._extra[domain]))
            raise SampleError(f"no names for domain {domain!r}")
        if list_name in names:
            return Piece(vocab.pick(rng, names[list_name]), "name")
        if list_name == "device":
            return self._value("name", vocab.ON_OFF_DOMAINS, [DOMAIN_WEIGHT[d] for d in vocab.ON_OFF_DOMAINS], rng)
        if list_name == "drink":
            return Piece(vocab.pick(rng, vocab.DRINKS[lang]), "name")
        if list_name == "area":
            return Piece(vocab.pick(rng, vocab.AREAS[lang]), "area")
        if list_name == "floor":
            return Piece(vocab.pick(rng, vocab.FLOORS[lang]), "area")
        if list_name == "color":
            return Piece(vocab.pick(rng, vocab.COLORS[lang]), "color")
        if list_name in _PERCENT_LISTS:
            return Piece(say_number(percent(rng), lang, rng, words=self._words), "number")
        if list_name == "half":
            return Piece(vocab.pick(rng, vocab.HALF[lang]), "number")
        if list_name == "temperature":
            return Piece(say_number(temperature(lang, rng), lang, rng, words=self._words), "number")
        if list_name == "color_temperature":
            return Piece(str(rng.randrange(2000, 6600, 100)))
        if list_name.startswith("timer_") and list_name not in self._extra:
            return Piece(say_number(rng.choice((1, 2, 3, 5, 10, 15, 20, 25, 30, 45, 90)), lang, rng))
        if list_name == "zone":
            return Piece(vocab.pick(rng, vocab.ZONES[lang]))
        if list_name in self._extra:
            return Piece(vocab.pick(rng, self._extra[list_name]))
        ha_list = self._ha_lists.get(list_name)
        if isinstance(ha_list, TextSlotList) and ha_list.values:
            value = ha_list.values[rng.randrange(len(ha_list.values))]
            return Piece(sample_text(value.text_in, self._ha_rules, rng), _HA_LIST_SLOT.get(list_name))
        if isinstance(ha_list, RangeSlotList):
            return Piece(say_number(rng.randint(ha_list.start, min(ha_list.stop, 100)), lang, rng))
        raise SampleError(f"no values for list {{{list_name}}}")
