"""The intent-model contract shared by the training pipeline and the edge runtime: labels and manifest."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Bumped when the model's inputs/outputs or the manifest change incompatibly.
MODEL_FORMAT_VERSION = 1

OUT_OF_SCOPE = "out_of_scope"

#: Classifier labels. `HassLightSet+up/down` are relative brightness: HassLightSet with
#: `brightness_direction` (DESIGN.md §4). Everything the edge does not handle is out_of_scope.
INTENT_LABELS: tuple[str, ...] = (
    "HassTurnOn",
    "HassTurnOff",
    "HassLightSet",
    "HassLightSet+up",
    "HassLightSet+down",
    "HassClimateSetTemperature",
    "HassClimateGetTemperature",
    "HassGetState",
    "HassSetPosition",
    "HassVacuumStart",
    "HassVacuumReturnToBase",
    "HassVacuumCleanArea",
    "HassMediaPause",
    "HassMediaUnpause",
    "HassMediaNext",
    "HassMediaPrevious",
    "HassSetVolume",
    OUT_OF_SCOPE,
)

#: Intents whose actions are risky enough to need a higher confidence (locks, covers, alarms).
HIGH_RISK_INTENTS: frozenset[str] = frozenset({"HassSetPosition", "HassVacuumCleanArea"})

#: Span types the slot tagger marks. `number` becomes brightness / temperature / position / volume
#: depending on the intent; `name` and `area` are resolved against the live registry.
SLOT_TYPES: tuple[str, ...] = ("name", "area", "color", "number")
SLOT_LABELS: tuple[str, ...] = ("O", *(f"{p}-{t}" for t in SLOT_TYPES for p in ("B", "I")))

NUMBER_SLOT_BY_INTENT: dict[str, str] = {
    "HassLightSet": "brightness",
    "HassClimateSetTemperature": "temperature",
    "HassSetPosition": "position",
    "HassSetVolume": "volume",
}


def split_label(label: str) -> tuple[str, str | None]:
    """'HassLightSet+up' -> ('HassLightSet', 'up'); other labels -> (label, None)."""
    intent, _, direction = label.partition("+")
    return intent, direction or None


class Span(BaseModel):
    """A slot span in a training example, in character offsets of `text`."""

    model_config = ConfigDict(extra="forbid")

    slot: Literal["name", "area", "color", "number"]
    start: int = Field(ge=0)
    end: int = Field(gt=0)


class Example(BaseModel):
    """One line of the generated training data."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    language: Literal["en", "zh-cn"]
    intent: str
    spans: list[Span] = Field(default_factory=list)
    source: str


class Thresholds(BaseModel):
    """Calibrated-confidence thresholds below which the model stage says "not mine"."""

    default: float = Field(ge=0, le=1)
    high_risk: float = Field(ge=0, le=1)


class ModelManifest(BaseModel):
    """`manifest.json` of a model directory."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    format_version: int
    version: str
    created: datetime
    languages: list[str]
    intents: list[str]
    slot_labels: list[str]
    model_file: str = "model.int8.onnx"
    tokenizer_file: str = "tokenizer.json"
    max_length: int = Field(default=48, ge=8, le=512)
    temperature: float = Field(default=1.0, gt=0, description="temperature scaling of the intent logits")
    thresholds: Thresholds
    data_hash: str
    files: dict[str, str] = Field(description="file name -> sha256 hex")
    metrics: dict[str, float | int | str] = Field(default_factory=dict)
