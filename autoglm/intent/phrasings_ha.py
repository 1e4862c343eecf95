"""Sentences sampled from Home Assistant's own templates (home-assistant-intents), with our slot values."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from hassil import Intents
from home_assistant_intents import get_intents

from autoglm.intent import vocab
from autoglm.intent.phrasings_fill import SlotFill, reads_well
from autoglm.intent.phrasings_sampler import Piece, Template, sample

#: Our language codes -> home-assistant-intents' codes.
HA_LANGUAGE = {"en": "en", "zh-cn": "zh-CN"}

#: HA device intents we classify, each its own label.
DEVICE_INTENTS: tuple[str, ...] = (
    "HassTurnOn", "HassTurnOff", "HassLightSet", "HassClimateSetTemperature", "HassClimateGetTemperature",
    "HassGetState", "HassSetPosition", "HassVacuumStart", "HassVacuumReturnToBase", "HassVacuumCleanArea",
    "HassMediaPause", "HassMediaUnpause", "HassMediaNext", "HassMediaPrevious", "HassSetVolume",
)
#: HA intents the edge model leaves to others: their sentences are out-of-scope negatives.
NON_DEVICE_INTENTS: tuple[str, ...] = (
    "HassGetWeather", "HassStartTimer", "HassCancelTimer", "HassCancelAllTimers", "HassIncreaseTimer",
    "HassDecreaseTimer", "HassPauseTimer", "HassUnpauseTimer", "HassTimerStatus", "HassListAddItem",
    "HassListCompleteItem", "HassListRemoveItem", "HassShoppingListAddItem", "HassShoppingListCompleteItem",
    "HassGetCurrentTime", "HassGetCurrentDate", "HassBroadcast", "HassNevermind", "HassMediaSearchAndPlay",
    "HassRespond", "HassSetVolumeRelative", "HassMediaPlayerMute", "HassMediaPlayerUnmute",
)
#: Rarely spoken domains are drawn less often than their template count suggests.
_TEMPLATE_WEIGHT = {"scene": 0.5, "script": 0.3, "valve": 0.3, "button": 0.3, "input_button": 0.3,
                    "person": 0.5, "binary_sensor": 0.7}
#: Delayed commands ("turn off the lights in 5 minutes") are timers to HA but device commands to SLURP.
_SKIP_LISTS = frozenset({"timer_command"})


@dataclass(frozen=True, slots=True)
class _Choice:
    template: Template
    domains: tuple[str, ...]
    weight: float


class HaPhrasings:
    """Random sentences for HA intents in one language; names come from the domains a template requires."""

    def __init__(self, language: str, extra_vocab: Mapping[str, tuple[str, ...]] | None = None) -> None:
        data = get_intents(HA_LANGUAGE[language])
        if data is None:
            raise ValueError(f"home-assistant-intents has no templates for {language}")
        intents = Intents.from_dict(data)
        self.language = language
        self._fill = SlotFill(language, intents.slot_lists, intents.expansion_rules, extra_vocab)
        self._pools: dict[str, list[_Choice]] = {}
        for name in (*DEVICE_INTENTS, *NON_DEVICE_INTENTS):
            if name in intents.intents:
                self._pools[name] = self._choices(intents, name)

    @staticmethod
    def _choices(intents: Intents, name: str) -> list[_Choice]:
        choices = []
        for data in intents.intents[name].data:
            rules = {**intents.expansion_rules, **data.expansion_rules}
            required = data.requires_context.get("domain")
            if isinstance(required, str):
                domains: tuple[str, ...] = (required,)
            elif required:
                domains = tuple(required)
            else:
                fixed = data.slots.get("domain")
                domains = (fixed,) if isinstance(fixed, str) else vocab.ON_OFF_DOMAINS
            weight = min((_TEMPLATE_WEIGHT.get(d, 1.0) for d in domains), default=1.0)
            for sentence in data.sentences:
                lists = set(sentence.list_names(rules))
                if lists & (_SKIP_LISTS | data.wildcard_list_names - _fillable(name)):
                    continue
                choices.append(_Choice(Template(sentence, rules), domains, weight))
        return choices

    def intents(self) -> list[str]:
        """HA intents with templates in this language."""
        return list(self._pools)

    def sample(self, intent: str, rng: random.Random, *, tag: bool = True, tries: int = 8) -> list[Piece]:
        """One sentence for `intent`; `tag=False` marks no slots (for negatives)."""
        pool = self._pools[intent]
        weights = [c.weight for c in pool]
        pieces: list[Piece] = []
        for _ in range(tries):
            choice = rng.choices(pool, weights)[0]
            pieces = sample(choice.template, self._fill.filler(choice.domains, tag=tag), rng)
            if reads_well(pieces, self.language):
                break
        return pieces


def _fillable(intent: str) -> frozenset[str]:
    """Wildcard lists we have vocabularies for (device intents: zone; negatives: all but commands)."""
    if intent in DEVICE_INTENTS:
        return frozenset({"zone"})
    return frozenset({"message", "search_query", "timer_name", "shopping_list_item", "todo_list_item", "zone"})
