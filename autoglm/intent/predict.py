"""Offline prediction with the edge's own local stages (template, then model), no devices touched."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.config import DEFAULT_MODEL_DIR
from edge.decision.model_stage import ModelStage
from edge.decision.pipeline import detect_language, normalize_text
from edge.decision.schedule import schedule_of, without
from edge.decision.template_stage import IntentMatch, TemplateStage
from edge.devices.registry import AREA_TRANSLATIONS, Registry
from edge.io.intent_model import load_intent_model
from shared.errors import ModelError
from shared.intent import OUT_OF_SCOPE

#: Slots reported by predict: what was said, as the evaluation sets annotate them.
REPORTED_SLOTS = ("name", "area", "color", "brightness", "brightness_direction", "temperature", "position",
                  "volume")


@dataclass(frozen=True, slots=True)
class Result:
    """One prediction line."""

    text: str
    intent: str
    slots: dict[str, Any]
    confidence: float | None
    stage: str
    latency_ms: float
    when: str | None = None  # the words tying it to a time or an event: the edge defers it to the cloud

    def as_json(self) -> dict[str, Any]:
        """The output line of `autoglm intent predict`."""
        return {"text": self.text, "intent": self.intent, "slots": self.slots, "confidence": self.confidence,
                "stage": self.stage, "when": self.when, "latency_ms": round(self.latency_ms, 3)}


class Predictor:
    """Template stage + model stage over a registry that knows common areas but no devices."""

    def __init__(self, model_dir: Path | None = DEFAULT_MODEL_DIR, *, use_templates: bool = True,
                 threads: int = 1) -> None:
        self.registry = Registry(known_areas=[a.title() for a in AREA_TRANSLATIONS])
        self.template = TemplateStage(self.registry, ["en", "zh-cn"]) if use_templates else None
        self.model = ModelStage(self.registry, model_dir, load=load_intent_model, threads=threads)
        self.model.reload_if_changed()
        if model_dir is not None and self.model.model is None:
            raise ModelError(self.model.status().error or f"no model at {model_dir}")

    def predict(self, text: str, language: str | None = None) -> Result:
        """Run the local stages on one sentence."""
        start = time.perf_counter()
        lang = (language or detect_language(text)).lower()
        clean = normalize_text(text)
        when = schedule_of(clean, lang)
        if when is not None:  # as the edge does: the stages read the command without its time
            clean = without(clean, when, lang)
        match: IntentMatch | None = None
        stage = "none"
        if self.template is not None:
            match = self.template.match(clean, lang)
            stage = "template" if match is not None and not match.unmatched else stage
            match = match if stage == "template" else None
        if match is None:
            match = self.model.match(clean, lang)
            stage = "model" if match is not None else "none"
        latency = (time.perf_counter() - start) * 1000
        if match is None:
            return Result(text, OUT_OF_SCOPE, {}, None, stage, latency)
        return Result(text, match.intent, _reported_slots(match), match.confidence, stage, latency, when)


def _reported_slots(match: IntentMatch) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in REPORTED_SLOTS:
        if key in match.spoken:
            out[key] = match.spoken[key]
        elif key in match.slots and key not in ("name", "area"):
            out[key] = match.slots[key]
        elif key in match.slots:
            out[key] = str(match.slots[key])
    return out
