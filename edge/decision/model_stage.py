"""Model stage: the distilled intent model's prediction resolved against the live registry.

Says "not mine" (None) for out_of_scope, for low confidence, or when no model is loaded; the
edge then serves template matches only (degraded mode) until a good model appears.
"""

from __future__ import annotations

import difflib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.decision.intents import Plan
from edge.decision.numbers import parse_number
from edge.decision.template_stage import IntentMatch
from edge.devices.registry import Registry, normalize
from edge.ports import IntentClassifier, ModelLoader, Prediction
from shared.errors import ModelError
from shared.intent import HIGH_RISK_INTENTS, NUMBER_SLOT_BY_INTENT, OUT_OF_SCOPE, split_label

log = logging.getLogger(__name__)

#: Words that name a kind of device rather than one device ("the lights", "所有灯").
DOMAIN_WORDS: dict[str, str] = {
    **dict.fromkeys(("light", "lights", "lamp", "lamps", "bulb", "bulbs", "lighting", "light bulb", "灯", "灯光",
                     "电灯", "所有灯", "所有的灯"), "light"),
    **dict.fromkeys(("plug", "plugs", "socket", "sockets", "outlet", "outlets", "switch", "switches", "插座",
                     "开关"), "switch"),
    **dict.fromkeys(("blind", "blinds", "curtain", "curtains", "shade", "shades", "shutter", "shutters",
                     "窗帘", "百叶窗"), "cover"),
    **dict.fromkeys(("fan", "fans", "风扇"), "fan"),
    **dict.fromkeys(("lock", "locks", "锁"), "lock"),
}
#: Drinks people ask for stand for the coffee machine ("make me a latte" -> HassTurnOn coffee machine).
DRINK_WORDS: dict[str, str] = {
    **dict.fromkeys(("coffee", "a coffee", "latte", "a latte", "espresso", "an espresso", "cappuccino",
                     "a cappuccino", "americano", "flat white", "mocha", "cup of coffee", "a cup of coffee",
                     "coffee pot", "coffee maker"), "coffee machine"),
    **dict.fromkeys(("咖啡", "一杯咖啡", "拿铁", "浓缩咖啡", "卡布奇诺", "美式", "美式咖啡", "咖啡壶"), "咖啡机"),
}
_QUANTIFIERS = ("all the ", "all of the ", "all ", "every ", "each ", "the ", "my ", "our ", "所有的", "所有", "全部的",
                "全部")
COLOR_WORDS: dict[str, str] = {
    "红": "red", "红色": "red", "橙": "orange", "橙色": "orange", "黄": "yellow", "黄色": "yellow", "绿": "green",
    "绿色": "green", "蓝": "blue", "蓝色": "blue", "紫": "purple", "紫色": "purple", "粉": "pink", "粉色": "pink",
    "粉红色": "pink", "白": "white", "白色": "white", "暖白": "warm white", "暖白色": "warm white", "青色": "cyan",
    "棕色": "brown", "金色": "gold",
}
#: A fuzzy name or area match needs at least this similarity (difflib ratio on normalised text).
FUZZY_CUTOFF = 0.8


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """What /readyz reports about the model."""

    version: str | None
    error: str | None


class ModelStage:
    """Holds the current model (hot-swappable) and turns predictions into intent matches."""

    def __init__(self, registry: Registry, model_dir: Path | None, *, load: ModelLoader, threads: int = 1) -> None:
        self._registry = registry
        self._dir = model_dir
        self._load = load
        self._threads = threads
        self._model: IntentClassifier | None = None
        self._error: str | None = None if model_dir else "no model directory configured"
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> IntentClassifier | None:
        """The loaded model, if any."""
        return self._model

    def status(self) -> ModelStatus:
        """Loaded version and the last load error."""
        return ModelStatus(self._model.version if self._model else None, self._error)

    def reload_if_changed(self) -> bool:
        """Load the model when its manifest changed; keep the old one if the new one is bad. Blocking."""
        if self._dir is None:
            return False
        manifest = self._dir / "manifest.json"
        try:
            st = manifest.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if stamp == self._stamp and (self._model is not None or self._error is not None):
                return False
            self._stamp = stamp
            try:
                model = self._load(self._dir, self._threads)  # a missing manifest is a clear ModelError
            except ModelError as exc:
                self._error = str(exc)
                keeping = f"keeping {self._model.version}" if self._model else "template stage only"
                log.error("intent model not loaded; %s", keeping, extra={"error": self._error})
                return False
            self._model, self._error = model, None
            return True

    @property
    def directory(self) -> Path | None:
        """The directory the model is loaded from."""
        return self._dir

    def prepare(self, model_dir: Path) -> IntentClassifier:
        """Load and smoke-test a model without serving it; ModelError names what is wrong. Blocking."""
        model = self._load(model_dir, self._threads)
        try:
            model.predict("turn on the kitchen light")
        except Exception as exc:  # onnxruntime's own errors: a graph that loads but cannot run
            raise ModelError(f"model {model.version} fails a test prediction: {str(exc).splitlines()[0]}") from None
        return model

    def install(self, model: IntentClassifier) -> None:
        """Serve `model` and watch its directory from now on (a roll-out's atomic switch)."""
        try:
            st = (model.model_dir / "manifest.json").stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        with self._lock:
            self._dir, self._model, self._error, self._stamp = model.model_dir, model, None, stamp

    def match(self, text: str, language: str, area: str | None = None) -> IntentMatch | None:
        """A confident, resolvable prediction as an IntentMatch; None means not mine."""
        model = self._model
        if model is None:
            return None
        prediction = model.predict(text)
        if prediction.label == OUT_OF_SCOPE:
            return None
        intent, direction = split_label(prediction.label)
        if prediction.confidence < model.threshold(intent in HIGH_RISK_INTENTS):
            return None
        slots, spoken = self.slots(prediction, intent, direction, area)
        unmatched = {"area": str(slots.pop("_unknown_area"))} if "_unknown_area" in slots else {}
        return IntentMatch(intent, slots, language, text, spoken, unmatched=unmatched,
                           confidence=prediction.confidence, model_version=model.version)

    def slots(self, prediction: Prediction, intent: str, direction: str | None,
              area: str | None) -> tuple[dict[str, Any], dict[str, str]]:
        """Resolve spans: fuzzy names and areas, domain words, colours, numbers in words or numerals."""
        slots: dict[str, Any] = {}
        spoken: dict[str, str] = {}
        for span in prediction.spans:
            said = span.text.strip()
            if span.slot == "name":
                domain = DOMAIN_WORDS.get(_strip_quantifiers(said))
                if domain:
                    slots["domain"] = domain
                    continue
                said = DRINK_WORDS.get(normalize(said), said)
                slots["name"] = self.resolve_name(said)
                spoken["name"] = said
            elif span.slot == "area":
                key = self.resolve_area(said)
                spoken["area"] = said
                if key is None:
                    slots["_unknown_area"] = said
                else:
                    slots["area"] = key
            elif span.slot == "color":
                slots["color"] = COLOR_WORDS.get(said, said.casefold())
            elif span.slot == "number":
                value = parse_number(said)
                if value is not None and intent in NUMBER_SLOT_BY_INTENT:
                    slots[NUMBER_SLOT_BY_INTENT[intent]] = value
                elif value is not None:
                    slots["amount"] = value
        if direction:
            slots["brightness_direction"] = direction
        if "area" not in slots and area:
            slots["area"] = area
        if intent in ("HassTurnOn", "HassTurnOff", "HassLightSet") and "name" not in slots:
            slots.setdefault("domain", "light")  # "turn off the kitchen" means its lights
        return slots, spoken

    def confident_for(self, plan: Plan, match: IntentMatch) -> bool:
        """Risky targets (locks, garage doors, bulk actions) need the stricter threshold."""
        model = self._model
        if model is None or match.confidence is None:
            return False
        risky = plan.sensitive or any(e.domain == "lock" for e, _ in plan.actions)
        return not risky or match.confidence >= model.threshold(True)

    def resolve_name(self, said: str) -> str:
        """The closest known spoken name, or what was said when nothing is close."""
        names = {normalize(n): n for e in self._registry.entities() for n in self._registry.spoken_names(e)}
        return _closest(_strip_quantifiers(said), names) or said

    def resolve_area(self, said: str) -> str | None:
        """Area key for a fuzzy area mention ("bed room", "living room's")."""
        cleaned = normalize(said).removesuffix("'s").removesuffix("s'")
        exact = self._registry.area_key(cleaned)
        if exact:
            return exact
        names = {normalize(n): a.key for a in self._registry.areas() for n in a.names}
        hit = _closest(cleaned, {k: k for k in names})
        return names[hit] if hit else None


def _strip_quantifiers(text: str) -> str:
    t = normalize(text)
    changed = True
    while changed:
        changed = False
        for q in _QUANTIFIERS:
            if t.startswith(q) and len(t) > len(q):
                t, changed = t[len(q):], True
    return t


def _closest(said: str, candidates: dict[str, str]) -> str | None:
    key = normalize(said)
    if key in candidates:
        return candidates[key]
    squashed = {k.replace(" ", ""): v for k, v in candidates.items()}
    if key.replace(" ", "") in squashed:
        return squashed[key.replace(" ", "")]
    singular = key[:-1] if key.endswith("s") else key
    if singular in candidates:
        return candidates[singular]
    hits = difflib.get_close_matches(key, list(candidates), n=1, cutoff=FUZZY_CUTOFF)
    return candidates[hits[0]] if hits else None
