"""Intent handlers: an HA intent with slots -> device commands on resolved targets, or an answer.

One registry of handlers and one choke point (`plan`) that turns resolution failures into Refusals,
as Home Assistant's helpers/intent.py does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge.decision.replies import Refusal, domain_word, render, where
from edge.decision.template_stage import IntentMatch
from edge.devices.entity import Command, Entity
from edge.devices.registry import Registry, normalize
from shared.decision import Outcome

# Named colours HA's templates produce, as sRGB.
COLORS: dict[str, tuple[int, int, int]] = {
    "warm": (255, 214, 170), "cool white": (220, 235, 255), "amber": (255, 191, 0),
    "white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0), "orange": (255, 165, 0),
    "yellow": (255, 255, 0), "green": (0, 128, 0), "blue": (0, 0, 255), "purple": (128, 0, 128),
    "brown": (165, 42, 42), "pink": (255, 192, 203), "turquoise": (64, 224, 208), "cyan": (0, 255, 255),
    "magenta": (255, 0, 255), "violet": (238, 130, 238), "indigo": (75, 0, 130), "gold": (255, 215, 0),
    "lime": (0, 255, 0), "teal": (0, 128, 128), "navy": (0, 0, 128), "warm white": (255, 214, 170),
}

SENSITIVE_COMMANDS = frozenset({"unlock"})
#: Percent that "brighter" / "dimmer" moves a light when no amount is said.
RELATIVE_STEP = 25.0
#: More devices than this in one request is a bulk action and needs confirmation.
BULK_LIMIT = 10


@dataclass(slots=True)
class Plan:
    """What an intent turns into: commands for devices, or a direct answer."""

    intent: str
    actions: list[tuple[Entity, Command]] = field(default_factory=list)
    answer: str | None = None
    answer_key: str | None = None
    answer_params: dict[str, Any] = field(default_factory=dict)
    sensitive: bool = False


def display(entity: Entity, language: str) -> str:
    """The entity's name in the user's language."""
    names = entity.aliases.get(language)
    return names[0] if names else entity.name


class IntentHandlers:
    """Maps HA intent names to handlers over the live registry."""

    def __init__(self, registry: Registry, twin_values: Callable[[str], dict[str, Any]],
                 now: Callable[[], datetime] = datetime.now) -> None:
        self._registry = registry
        self._twin = twin_values
        self._now = now
        self._handlers: dict[str, Callable[[IntentMatch], Plan]] = {
            "HassTurnOn": lambda m: self._on_off(m, True),
            "HassTurnOff": lambda m: self._on_off(m, False),
            "HassLightSet": self._light_set,
            "HassClimateSetTemperature": self._set_temperature,
            "HassSetPosition": self._set_position,
            "HassVacuumStart": lambda m: self._simple(m, "start", {"vacuum"}),
            "HassVacuumReturnToBase": lambda m: self._simple(m, "return_to_base", {"vacuum"}),
            "HassMediaPause": lambda m: self._simple(m, "media_pause", {"media_player"}),
            "HassMediaUnpause": lambda m: self._simple(m, "media_play", {"media_player"}),
            "HassMediaNext": lambda m: self._simple(m, "media_next", {"media_player"}),
            "HassMediaPrevious": lambda m: self._simple(m, "media_previous", {"media_player"}),
            "HassSetVolume": self._set_volume,
            "HassGetState": self._get_state,
            "HassClimateGetTemperature": self._get_temperature,
            "HassGetCurrentTime": lambda m: Plan(m.intent, answer_key="time",
                                                 answer_params={"value": self._now().strftime("%H:%M")}),
            "HassGetCurrentDate": lambda m: Plan(m.intent, answer_key="date",
                                                 answer_params={"value": self._now().strftime("%Y-%m-%d")}),
            "HassNevermind": lambda m: Plan(m.intent, answer_key="nevermind"),
        }

    def handles(self, intent: str) -> bool:
        """True when the edge can carry out this intent locally."""
        return intent in self._handlers

    def plan(self, match: IntentMatch) -> Plan:
        """The single entry point; raises Refusal with a localisable reply when it cannot."""
        if match.unmatched:
            where_said = match.unmatched.get("area") or match.spoken.get("area")
            if "name" in match.unmatched:
                raise Refusal(Outcome.UNKNOWN_DEVICE, "no_such_name", name=match.unmatched["name"],
                              where=where(match.language, where_said))
            raise Refusal(Outcome.UNKNOWN_DEVICE, "no_such_area", area=match.unmatched["area"])
        handler = self._handlers.get(match.intent)
        if handler is None:
            raise Refusal(Outcome.UNSUPPORTED, "not_local", intent=match.intent)
        plan = handler(match)
        plan.sensitive = plan.sensitive or len(plan.actions) > BULK_LIMIT or any(
            c.name in SENSITIVE_COMMANDS or (c.name == "open" and e.config.device_class in ("garage", "gate"))
            for e, c in plan.actions)
        return plan

    # resolution
    def targets(self, m: IntentMatch, domains: set[str] | None) -> list[Entity]:
        """Entities the slots name: by name (optionally within an area), else by area and domain."""
        slot_domain = m.slots.get("domain")
        if slot_domain:
            wanted = {slot_domain} if isinstance(slot_domain, str) else set(slot_domain)
            domains = wanted & domains if domains else wanted
        name = m.slots.get("name")
        area_key = m.slots.get("area")
        area_said = m.spoken.get("area") or (str(area_key) if area_key else None)
        lang = m.language
        if name:
            found = self._registry.find(name=str(name), area=area_key, domains=domains)
            if not found and area_key:  # "the kitchen light" where the name already says the area
                found = self._registry.find(name=str(name), domains=domains)
            if not found:
                raise Refusal(Outcome.UNKNOWN_DEVICE, "no_such_name", name=m.spoken.get("name", name),
                              where=where(lang, area_said))
            if len(found) > 1 and len({normalize(e.name) for e in found}) == 1:
                choices = ", ".join(f"{display(e, lang)} ({e.area or '?'})" for e in found)
                raise Refusal(Outcome.AMBIGUOUS, "ambiguous", name=m.spoken.get("name", name), choices=choices)
            return found
        found = self._registry.find(area=area_key, domains=domains)
        found = [e for e in found if e.domain not in ("sensor", "binary_sensor")] or found
        if not found:
            if domains and len(domains) == 1:
                raise Refusal(Outcome.UNKNOWN_DEVICE, "no_such_domain",
                              domain=domain_word(lang, next(iter(domains))), where=where(lang, area_said))
            raise Refusal(Outcome.UNKNOWN_DEVICE, "no_device", where=where(lang, area_said))
        return found

    # handlers
    def _on_off(self, m: IntentMatch, on: bool) -> Plan:
        controllable = {"light", "switch", "fan", "cover", "lock", "climate", "vacuum", "media_player"}
        entities = self.targets(m, controllable)
        actions = []
        for e in entities:
            if e.domain == "cover":
                name = "open" if on else "close"
            elif e.domain == "lock":
                name = "lock" if on else "unlock"
            else:
                name = "turn_on" if on else "turn_off"
            actions.append((e, Command(name)))
        return Plan(m.intent, actions)

    def _light_set(self, m: IntentMatch) -> Plan:
        entities = self.targets(m, {"light"})
        direction = m.slots.get("brightness_direction")
        if direction in ("up", "down"):
            return Plan(m.intent, [(e, Command("set_brightness", self._step(e, direction, m.slots))) for e in entities])
        commands: list[Command] = []
        if "brightness" in m.slots:
            commands.append(Command("set_brightness", float(m.slots["brightness"])))
        if "color" in m.slots:
            rgb = COLORS.get(str(m.slots["color"]).lower())
            if rgb is None:
                raise Refusal(Outcome.UNSUPPORTED, "unsupported", name=m.slots["color"], action="be a colour")
            commands.append(Command("set_color", rgb))
        if "temperature" in m.slots:  # colour temperature in kelvin
            commands.append(Command("set_color_temp", round(1_000_000 / max(1000.0, float(m.slots["temperature"])))))
        if not commands:
            raise Refusal(Outcome.NOT_UNDERSTOOD, "not_understood", text=m.text)
        return Plan(m.intent, [(e, c) for e in entities for c in commands])

    def _step(self, entity: Entity, direction: str, slots: dict[str, Any]) -> float:
        """New brightness percent for "brighter"/"dimmer": current +/- the amount said (default 25)."""
        values = self._twin(entity.device_id)
        scale = entity.config.brightness_scale
        current = 0.0 if values.get("state") == "OFF" else float(values.get("brightness") or scale) / scale * 100
        step = float(slots.get("brightness") or slots.get("amount") or RELATIVE_STEP)
        target = current + step if direction == "up" else current - step
        return float(round(min(100.0, max(1.0, target))))

    def _set_temperature(self, m: IntentMatch) -> Plan:
        entities = self.targets(m, {"climate"})
        return Plan(m.intent, [(e, Command("set_temperature", float(m.slots["temperature"]))) for e in entities])

    def _set_position(self, m: IntentMatch) -> Plan:
        entities = self.targets(m, {"cover"})
        return Plan(m.intent, [(e, Command("set_position", float(m.slots["position"]))) for e in entities])

    def _set_volume(self, m: IntentMatch) -> Plan:
        entities = self.targets(m, {"media_player"})
        return Plan(m.intent, [(e, Command("set_volume", float(m.slots["volume"]))) for e in entities])

    def _simple(self, m: IntentMatch, command: str, domains: set[str]) -> Plan:
        return Plan(m.intent, [(e, Command(command)) for e in self.targets(m, domains)])

    def _get_state(self, m: IntentMatch) -> Plan:
        entities = self.targets(m, None)
        parts = []
        for e in entities:
            values = self._twin(e.device_id)
            state = values.get("state", values.get("value", values.get("hvac_mode")))
            name = display(e, m.language)
            if state is None:
                parts.append(render(m.language, "state_unknown", name=name))
                continue
            text = f"{state}".lower() if isinstance(state, str) else f"{state:g}"
            if e.config.unit_of_measurement:
                text += f" {e.config.unit_of_measurement}"
            parts.append(render(m.language, "state", name=name, state=text))
        asked = m.slots.get("state")
        if asked is not None and len(entities) == 1:
            actual = self._twin(entities[0].device_id).get("state")
            yes = isinstance(actual, str) and actual.lower() == str(asked).lower()
            prefix = ("Yes, " if yes else "No, ") if m.language == "en" else ("是的，" if yes else "不是，")
            parts[0] = prefix + parts[0]
        return Plan(m.intent, answer=" ".join(parts))

    def _get_temperature(self, m: IntentMatch) -> Plan:
        area_key = m.slots.get("area")
        candidates = [e for e in self._registry.find(area=area_key, domains={"climate"})]
        candidates += [e for e in self._registry.find(area=area_key, domains={"sensor"})
                       if e.config.device_class == "temperature"]
        for e in candidates:
            values = self._twin(e.device_id)
            value = values.get("current_temperature", values.get("value"))
            if isinstance(value, int | float):
                area_said = m.spoken.get("area") or e.area
                return Plan(m.intent, answer_key="temperature",
                            answer_params={"value": float(value), "where": where(m.language, area_said)})
        raise Refusal(Outcome.UNKNOWN_DEVICE, "no_such_domain", domain=domain_word(m.language, "sensor"),
                      where=where(m.language, m.spoken.get("area")))
