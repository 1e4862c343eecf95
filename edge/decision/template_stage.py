"""Template stage: Home Assistant's own matcher (hassil) with HA's sentence templates and our device names."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from hassil import Intents, TextSlotList, recognize_best
from home_assistant_intents import get_intents

from edge.devices.registry import Registry
from shared.errors import ConfigError

log = logging.getLogger(__name__)

#: Our language codes -> home-assistant-intents' codes.
HA_LANGUAGE = {"en": "en", "zh-cn": "zh-CN"}


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """What a stage understood: an HA intent name and its slots (values already resolved by hassil)."""

    intent: str
    slots: dict[str, Any]
    language: str
    text: str
    # Slot text as spoken (e.g. the area as said), for replies.
    spoken: dict[str, str] = field(default_factory=dict)
    # Names or areas said that no known device or area has.
    unmatched: dict[str, str] = field(default_factory=dict)
    # Set by the model stage: calibrated confidence and the model that produced it.
    confidence: float | None = None
    model_version: str | None = None


class TemplateStage:
    """Matches text against HA's templates; returns None ("not mine") when nothing matches."""

    def __init__(self, registry: Registry, languages: list[str]) -> None:
        self._registry = registry
        self._intents: dict[str, Intents] = {}
        for lang in languages:
            if lang not in HA_LANGUAGE:
                raise ConfigError(f"language {lang!r} is not supported (supported: {', '.join(HA_LANGUAGE)})")
            data = get_intents(HA_LANGUAGE[lang])
            if data is None:
                raise ConfigError(f"home-assistant-intents has no templates for {lang}")
            self._intents[lang] = Intents.from_dict(data)
        self._lists: dict[str, Any] = {}
        self._generation = -1
        self._lock = threading.Lock()

    @property
    def languages(self) -> list[str]:
        """Languages loaded."""
        return list(self._intents)

    def _slot_lists(self) -> dict[str, Any]:
        with self._lock:
            if self._generation != self._registry.generation:
                names: list[tuple[str, Any, dict[str, Any]]] = []
                for entity in self._registry.entities():
                    for spoken in self._registry.spoken_names(entity):
                        names.append((spoken, spoken, {"domain": entity.domain}))
                areas: list[tuple[str, Any, dict[str, Any]]] = [
                    (n, area.key, {}) for area in self._registry.areas() for n in area.names]
                self._lists = {
                    "name": TextSlotList.from_tuples(names, allow_template=False),
                    "area": TextSlotList.from_tuples(areas, allow_template=False),
                    "floor": TextSlotList.from_tuples([], allow_template=False),
                }
                self._generation = self._registry.generation
            return self._lists

    def warm_up(self) -> None:
        """Run one match per language so the first user command does not pay hassil's start-up cost."""
        for lang in self._intents:
            self.match("turn on the light" if lang == "en" else "打开灯", lang)

    def match(self, text: str, language: str, area: str | None = None) -> IntentMatch | None:
        """Best template match, or None. `area` is the satellite's area key, used when none is said."""
        intents = self._intents.get(language)
        if intents is None:
            return None
        context = {"area": area} if area else None
        result = recognize_best(text, intents, slot_lists=self._slot_lists(), intent_context=context,
                                language=HA_LANGUAGE[language])
        if result is None or result.intent is None:
            return self._unmatched(text, intents, language, context)
        slots = {name: ent.value for name, ent in result.entities.items()}
        spoken = {name: str(ent.text).strip() for name, ent in result.entities.items() if ent.text}
        for key, value in (result.context or {}).items():
            slots.setdefault(key, value)
        return IntentMatch(result.intent.name, slots, language, text, spoken)

    def _unmatched(self, text: str, intents: Intents, language: str,
                   context: dict[str, Any] | None) -> IntentMatch | None:
        """A sentence that fits a template except for an unknown name or area ("turn on the garage light")."""
        result = recognize_best(text, intents, slot_lists=self._slot_lists(), intent_context=context,
                                language=HA_LANGUAGE[language], allow_unmatched_entities=True)
        if result is None or result.intent is None or not result.unmatched_entities:
            return None
        # Some templates are a bare "{name}"; only a sentence with real words around the unknown name counts.
        if not result.text_chunks_matched:
            return None
        said = {name: str(getattr(ent, "text", "")).strip() for name, ent in result.unmatched_entities.items()}
        unmatched = {name: text for name, text in said.items() if name in ("name", "area") and _plausible(name, text)}
        # A known name that only failed a template's domain constraint is not an unknown device.
        if not unmatched or ("name" in unmatched and self._registry.find(name=unmatched["name"])) or (
                "area" in unmatched and self._registry.area_key(unmatched["area"])):
            return None
        slots = {name: ent.value for name, ent in result.entities.items()}
        spoken = {name: str(ent.text).strip() for name, ent in result.entities.items() if ent.text}
        return IntentMatch(result.intent.name, slots, language, text, spoken, unmatched=unmatched)


#: Words that make an unknown name recognisably a device ("garage light"), so we can say it does not exist.
DEVICE_NOUNS = ("light", "lamp", "bulb", "plug", "socket", "switch", "lock", "fan", "heater", "thermostat",
                "curtain", "blind", "shade", "door", "window", "tv", "speaker", "vacuum", "sensor",
                "灯", "插座", "开关", "锁", "风扇", "空调", "窗帘", "门", "电视", "音箱", "传感器")


def _plausible(slot: str, text: str) -> bool:
    """An unknown name must look like a device; an unknown area must be short."""
    if not text:
        return False
    cjk = " " not in text and not text.isascii()
    if slot == "area":
        return len(text) <= 4 if cjk else len(text.split()) <= 3
    short = len(text) <= 8 if cjk else len(text.split()) <= 4
    return short and any(noun in text.casefold() for noun in DEVICE_NOUNS)
