"""Registry: names, aliases and areas across languages."""

from __future__ import annotations

from edge.devices.registry import Registry, normalize
from tests.edge.devices.test_entity import LIGHT, entity


def make_registry() -> Registry:
    registry = Registry(area_aliases={"Kitchen": ["galley"]}, name_aliases={"lk": ["the big door"]})
    registry.put(entity("light", LIGHT))
    registry.put(entity("light", {**LIGHT, "unique_id": "l2", "name": "Ceiling Light", "aliases": {},
                                  "device": {"identifiers": ["2"], "suggested_area": "Living Room"}}))
    registry.put(entity("lock", {"unique_id": "lk", "name": "Front Door Lock", "command_topic": "lk/set",
                                 "state_topic": "lk"}))
    return registry


def test_normalize_folds_case_width_and_separators() -> None:
    assert normalize("  Kitchen_Light ") == "kitchen light"
    assert normalize("ＫＩＴＣＨＥＮ") == "kitchen"


def test_find_by_name_alias_area_and_domain() -> None:
    registry = make_registry()
    assert [e.device_id for e in registry.find(name="厨房灯")] == ["l1"]
    assert [e.device_id for e in registry.find(area="living room", domains={"light"})] == ["l2"]
    assert registry.find(name="Kitchen Light", domains={"lock"}) == []


def test_areas_answer_to_translations_and_configured_aliases() -> None:
    registry = make_registry()
    assert registry.area_key("厨房") == "kitchen"
    assert registry.area_key("galley") == "kitchen"
    assert registry.area_key("客厅") == "living room"
    assert registry.area_key("garage") is None


def test_generic_suffix_and_sole_device_aliases() -> None:
    registry = make_registry()
    lock = registry.get("lk")
    assert lock is not None
    names = registry.spoken_names(lock)
    assert "Front Door" in names and "the big door" in names and "门锁" in names


def test_topics_index_and_removal_bump_generation() -> None:
    registry = make_registry()
    generation = registry.generation
    assert "z2m/kitchen" in registry.topics()
    registry.remove("l1")
    assert registry.generation == generation + 1
    assert registry.state_bindings("z2m/kitchen") == [] or all(
        e.device_id != "l1" for e, _ in registry.state_bindings("z2m/kitchen"))
