"""The device registry, learned from discovery: entities by id, by state topic, by spoken name and area."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from edge.devices.entity import Binding, Entity

# Common room names, so an area announced in one language can be named in the other.
AREA_TRANSLATIONS: dict[str, list[str]] = {
    "living room": ["客厅", "起居室"], "kitchen": ["厨房"], "bedroom": ["卧室"], "master bedroom": ["主卧"],
    "guest room": ["客房", "次卧"], "bathroom": ["浴室", "卫生间", "洗手间"], "study": ["书房"],
    "office": ["办公室"], "dining room": ["餐厅"], "hallway": ["走廊", "过道", "门厅"], "garage": ["车库"],
    "garden": ["花园"], "balcony": ["阳台"], "kids room": ["儿童房"], "nursery": ["婴儿房"],
    "laundry room": ["洗衣房"], "basement": ["地下室"], "attic": ["阁楼"], "entrance": ["玄关", "入口"],
    "toilet": ["厕所"], "porch": ["门廊"], "yard": ["院子"], "stairs": ["楼梯"],
}


#: Trailing words that users drop ("Front Door Lock" -> "front door").
GENERIC_SUFFIXES = ("lock", "plug", "switch", "socket", "sensor")
#: What people call the only device of a domain ("start the vacuum", "打开空调").
SOLE_DEVICE_WORDS: dict[str, tuple[str, ...]] = {
    "vacuum": ("vacuum", "robot vacuum", "vacuum cleaner", "robot", "扫地机器人", "扫地机", "吸尘器"),
    "climate": ("thermostat", "heating", "air conditioner", "温控器", "空调", "暖气"),
    "cover": ("curtains", "blinds", "窗帘"),
    "media_player": ("speaker", "tv", "音箱", "电视"),
    "lock": ("door", "door lock", "门", "门锁"),
}


def normalize(text: str) -> str:
    """Case-, width- and space-folded form used to compare spoken names."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[\s_\-'’]+", " ", text)
    return text.strip()


@dataclass(frozen=True, slots=True)
class Area:
    """An area and every name it answers to."""

    key: str  # normalised canonical name
    name: str  # as announced
    names: tuple[str, ...]  # every spoken form, all languages


class Registry:
    """Entities known to this edge; rebuilt indexes on every change."""

    def __init__(self, area_aliases: dict[str, list[str]] | None = None,
                 name_aliases: dict[str, list[str]] | None = None, known_areas: list[str] | None = None) -> None:
        self._entities: dict[str, Entity] = {}
        self._known_areas = list(known_areas or [])
        self._area_aliases = {normalize(k): v for k, v in (area_aliases or {}).items()}
        self._name_aliases = name_aliases or {}
        self.generation = 0  # bumps on every change, so caches and matchers know to rebuild
        self._by_topic: dict[str, list[tuple[Entity, Binding]]] = {}
        self._by_error_topic: dict[str, Entity] = {}
        self._by_availability: dict[str, list[Entity]] = {}
        self._digest: str | None = None

    def __len__(self) -> int:
        return len(self._entities)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._entities

    def get(self, device_id: str) -> Entity | None:
        """An entity by unique id."""
        return self._entities.get(device_id)

    def entities(self) -> list[Entity]:
        """All entities."""
        return list(self._entities.values())

    def put(self, entity: Entity) -> None:
        """Add or replace an entity (a re-announced config replaces the old one)."""
        old = self._entities.get(entity.device_id)
        if old is not None and entity.available is None:
            entity.available = old.available
        self._entities[entity.device_id] = entity
        self._reindex()

    def remove(self, device_id: str) -> Entity | None:
        """Forget an entity."""
        entity = self._entities.pop(device_id, None)
        if entity is not None:
            self._reindex()
        return entity

    def _reindex(self) -> None:
        self.generation += 1
        by_topic: dict[str, list[tuple[Entity, Binding]]] = defaultdict(list)
        by_avail: dict[str, list[Entity]] = defaultdict(list)
        by_error: dict[str, Entity] = {}
        for entity in self._entities.values():
            for binding in entity.bindings():
                by_topic[binding.topic].append((entity, binding))
            for item in entity.config.availability_topics():
                by_avail[item.topic].append(entity)
            if entity.error_topic:
                by_error[entity.error_topic] = entity
        self._by_topic, self._by_availability, self._by_error_topic = dict(by_topic), dict(by_avail), by_error
        self._digest = None

    def digest(self) -> str:
        """A short hash of what words resolve against (ids, domains, names, areas, aliases).

        Unlike `generation`, it stays the same when devices re-announce an unchanged config (every restart), so
        a decision cache keyed on it survives restarts and is invalidated only by real changes.
        """
        if self._digest is None:
            rows = sorted((e.device_id, e.domain, e.name, e.area or "") for e in self._entities.values())
            blob = json.dumps([rows, self._known_areas, sorted(self._area_aliases.items()),
                               sorted(self._name_aliases.items())], ensure_ascii=False)
            self._digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
        return self._digest

    def topics(self) -> set[str]:
        """Every topic the edge must subscribe to for state, availability and errors."""
        return set(self._by_topic) | set(self._by_availability) | set(self._by_error_topic)

    def state_bindings(self, topic: str) -> list[tuple[Entity, Binding]]:
        """Entities reporting on a state topic."""
        return self._by_topic.get(topic, [])

    def availability_entities(self, topic: str) -> list[Entity]:
        """Entities whose availability is on `topic`."""
        return self._by_availability.get(topic, [])

    def error_entity(self, topic: str) -> Entity | None:
        """The entity that reports command errors on `topic`."""
        return self._by_error_topic.get(topic)

    # names and areas
    def spoken_names(self, entity: Entity) -> list[str]:
        """Every name an entity answers to."""
        names = [entity.name]
        for extra in entity.aliases.values():
            names.extend(extra)
        names.extend(self._name_aliases.get(entity.device_id, []))
        words = entity.name.split()
        if len(words) > 1 and words[-1].casefold() in GENERIC_SUFFIXES:
            names.append(" ".join(words[:-1]))
        if sum(1 for e in self._entities.values() if e.domain == entity.domain) == 1:
            names.extend(SOLE_DEVICE_WORDS.get(entity.domain, ()))
        return list(dict.fromkeys(n for n in names if n))

    def areas(self) -> list[Area]:
        """Areas of the known entities, each with its names in every language."""
        found: dict[str, Area] = {}
        announced = [(e.area, list(e.area_aliases.values())) for e in self._entities.values() if e.area]
        for area_name, aliases in [*((a, []) for a in self._known_areas), *announced]:
            key = normalize(area_name)
            names = [area_name, *aliases, *AREA_TRANSLATIONS.get(key, []), *self._area_aliases.get(key, [])]
            if key in found:
                names = [*found[key].names, *names]
            found[key] = Area(key, area_name, tuple(dict.fromkeys(names)))
        return list(found.values())

    def area_key(self, spoken: str) -> str | None:
        """Canonical key of the area `spoken` names, if any."""
        target = normalize(spoken)
        for area in self.areas():
            if any(normalize(n) == target for n in area.names):
                return area.key
        return None

    def find(self, *, name: str | None = None, area: str | None = None,
             domains: Iterable[str] | None = None) -> list[Entity]:
        """Entities matching a spoken name, an area key, and allowed domains."""
        wanted = set(domains) if domains else None
        target = normalize(name) if name else None
        out = []
        for entity in self._entities.values():
            if wanted is not None and entity.domain not in wanted:
                continue
            if area is not None and (not entity.area or normalize(entity.area) != area):
                continue
            if target is not None and not any(normalize(n) == target for n in self.spoken_names(entity)):
                continue
            out.append(entity)
        return out
