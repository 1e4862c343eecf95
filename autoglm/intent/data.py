"""Deterministic labelled data for the joint intent + slot model: generate, split, write with a data card."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from autoglm.intent.augment import Kind, augment, kind_of
from autoglm.intent.negatives import Negatives, vocab_for
from autoglm.intent.phrasings import GenericPhrasings
from autoglm.intent.phrasings_ha import DEVICE_INTENTS, HaPhrasings
from autoglm.intent.phrasings_sampler import Piece, render
from shared.intent import INTENT_LABELS, OUT_OF_SCOPE, Example

#: Bumped whenever generation changes, so a data hash can be traced to the code that made it.
GENERATOR_VERSION = 5
IN_SCOPE: tuple[str, ...] = tuple(label for label in INTENT_LABELS if label != OUT_OF_SCOPE)
#: Share of each label drawn from HA's templates; the rest comes from our own (relative: all ours).
HA_SHARE: dict[str, float] = {
    "HassTurnOn": 0.35, "HassTurnOff": 0.4, "HassLightSet": 0.4, "HassClimateSetTemperature": 0.4,
    "HassClimateGetTemperature": 0.4, "HassGetState": 0.4, "HassSetPosition": 0.4, "HassVacuumStart": 0.2,
    "HassVacuumReturnToBase": 0.2, "HassVacuumCleanArea": 0.3, "HassMediaPause": 0.3, "HassMediaUnpause": 0.3,
    "HassMediaNext": 0.35, "HassMediaPrevious": 0.35, "HassSetVolume": 0.4,
}
#: Labels whose phrasings vary most (every domain's state question, every way to switch something on or off)
#: get more examples than `per_intent`.
LABEL_WEIGHT: dict[str, float] = {"HassGetState": 2.0, "HassTurnOn": 1.5, "HassTurnOff": 1.25}
#: Out-of-scope mix: assistant-style requests dominate; chit-chat alone does not teach the boundary.
OOS_SHARE: dict[str, float] = {"negative": 0.65, "ha_non_device": 0.23, "chatterbot": 0.12}
LICENSES: dict[str, str] = {
    "hassil": "home-assistant-intents templates (home-assistant/intents, CC BY 4.0; package Apache-2.0), "
              "parsed with hassil (Apache-2.0); slot values from our vocabularies",
    "ha_non_device": "home-assistant-intents templates (CC BY 4.0; package Apache-2.0)",
    "generic": "own templates (this project, Apache-2.0)",
    "relative": "own templates (this project, Apache-2.0)",
    "augment": "transformed examples of the sources above (same licenses)",
    "negative": "own templates (this project, Apache-2.0)",
    "chatterbot": "chatterbot-corpus 1.3.3 conversation lines (BSD-3-Clause)",
}
_RETRIES = 8


def generate(seed: int = 0, per_intent: int = 1500, languages: tuple[str, ...] = ("en", "zh-cn"),
             oos_ratio: float = 0.35) -> list[Example]:
    """About `per_intent` examples per in-scope label and language, plus out-of-scope at `oos_ratio` of all."""
    if not 0 <= oos_ratio < 1:
        raise ValueError(f"oos_ratio must be in [0, 1), got {oos_ratio}")
    examples: list[Example] = []
    for language in languages:
        examples.extend(_Generator(language, random.Random(f"{seed}:{language}")).run(per_intent, oos_ratio))
    random.Random(f"{seed}:shuffle").shuffle(examples)
    return examples


class _Generator:
    """All examples of one language, from one random stream."""

    def __init__(self, language: str, rng: random.Random) -> None:
        self.language = language
        self.rng = rng
        self.ha = HaPhrasings(language, vocab_for(language))
        self.generic = GenericPhrasings(language)
        self.negatives = Negatives(language, self.ha)

    def run(self, per_intent: int, oos_ratio: float) -> list[Example]:
        out: list[Example] = []
        for label in IN_SCOPE:
            n_label = round(per_intent * LABEL_WEIGHT.get(label, 1.0))
            n_ha = round(n_label * HA_SHARE.get(label, 0.0)) if label in DEVICE_INTENTS else 0
            origin = "generic" if "+" not in label else "relative"
            out += self._many(label, "hassil", n_ha, partial(self.ha.sample, label, self.rng))
            out += self._many(label, origin, n_label - n_ha, partial(self.generic.sample, label, self.rng))
        n_oos = round(len(out) * oos_ratio / (1 - oos_ratio))
        n_chat = min(round(n_oos * OOS_SHARE["chatterbot"]), 2 * self.negatives.chatterbot_size())
        n_ha = round(n_oos * OOS_SHARE["ha_non_device"])
        neg = self.negatives
        out += self._many(OUT_OF_SCOPE, "chatterbot", n_chat, partial(neg.chatterbot, self.rng), "chat")
        out += self._many(OUT_OF_SCOPE, "ha_non_device", n_ha, partial(neg.ha_non_device, self.rng))
        out += self._many(OUT_OF_SCOPE, "negative", n_oos - n_chat - n_ha, partial(neg.template, self.rng))
        return out

    def _many(self, label: str, origin: str, n: int, draw: Callable[[], list[Piece]],
              kind: Kind | None = None) -> list[Example]:
        seen: set[str] = set()
        out: list[Example] = []
        for _ in range(n):
            example = None
            for _ in range(_RETRIES):
                example = self._one(label, origin, draw(), kind)
                if example.text not in seen:
                    break
            assert example is not None
            seen.add(example.text)
            out.append(example)
        return out

    def _one(self, label: str, origin: str, pieces: list[Piece], kind: Kind | None) -> Example:
        plain, _ = render(pieces, self.language)
        pieces, changed = augment(pieces, self.language, kind or kind_of(plain, self.language), self.rng)
        text, spans = render(pieces, self.language)
        source = "augment" if changed and label != OUT_OF_SCOPE else origin
        return Example(text=text, language=self.language, intent=label, spans=spans, source=source)


def split(examples: list[Example], calib_fraction: float = 0.1, seed: int = 0) -> tuple[list[Example], list[Example]]:
    """Train and calibration sets, stratified by intent and language; each keeps the input order."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        groups[(example.intent, example.language)].append(i)
    rng = random.Random(f"{seed}:split")
    calib: set[int] = set()
    for key in sorted(groups):
        members = groups[key]
        rng.shuffle(members)
        calib.update(members[:round(len(members) * calib_fraction)])
    train = [e for i, e in enumerate(examples) if i not in calib]
    return train, [e for i, e in enumerate(examples) if i in calib]


def write_dataset(out_dir: Path, *, seed: int = 0, per_intent: int = 1500,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write train.jsonl, calib.jsonl, data_card.json and DATA_CARD.md to `out_dir`; return the card."""
    say = progress or (lambda _msg: None)
    say(f"generating examples (seed {seed}, {per_intent} per intent and language)")
    examples = generate(seed=seed, per_intent=per_intent)
    train, calib = split(examples, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for name, rows in (("train.jsonl", train), ("calib.jsonl", calib)):
        data = "".join(e.model_dump_json() + "\n" for e in rows).encode("utf-8")
        digest.update(data)
        (out_dir / name).write_bytes(data)
        say(f"wrote {len(rows)} examples to {out_dir / name}")
    card = data_card(examples, train, calib, seed=seed, per_intent=per_intent, data_hash=digest.hexdigest())
    (out_dir / "data_card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "DATA_CARD.md").write_text(card_markdown(card), encoding="utf-8")
    say(f"data hash {card['data_hash'][:12]}")
    return card


def data_card(examples: list[Example], train: list[Example], calib: list[Example], *, seed: int,
              per_intent: int, data_hash: str) -> dict[str, Any]:
    """Counts per intent x language x source, sizes, seed, hash, versions and licenses."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for (intent, lang, source), n in sorted(Counter((e.intent, e.language, e.source) for e in examples).items()):
        counts.setdefault(intent, {}).setdefault(lang, {})[source] = n
    sources = sorted({e.source for e in examples})
    return {
        "generator_version": GENERATOR_VERSION, "seed": seed, "per_intent": per_intent,
        "total": len(examples), "train": len(train), "calib": len(calib),
        "by_language": dict(sorted(Counter(e.language for e in examples).items())),
        "out_of_scope_share": round(sum(e.intent == OUT_OF_SCOPE for e in examples) / max(len(examples), 1), 4),
        "counts": counts, "data_hash": data_hash,
        "versions": {pkg: _version(pkg) for pkg in ("hassil", "home-assistant-intents", "chatterbot-corpus")},
        "licenses": {s: LICENSES.get(s, "unknown") for s in sources},
    }


def card_markdown(card: dict[str, Any]) -> str:
    """The data card as a Markdown page."""
    langs = sorted(card["by_language"])
    lines = [
        "# Intent training data", "",
        f"Generator v{card['generator_version']}, seed {card['seed']}, {card['per_intent']} per intent and language.",
        f"{card['total']} examples ({card['train']} train, {card['calib']} calib), "
        f"out-of-scope share {card['out_of_scope_share']:.1%}.",
        f"Data hash (sha256 of train + calib): `{card['data_hash']}`.", "",
        "| intent | " + " | ".join(langs) + " | sources |",
        "| --- | " + " | ".join("---:" for _ in langs) + " | --- |",
    ]
    for intent, by_lang in card["counts"].items():
        totals = [str(sum(by_lang.get(lang, {}).values())) for lang in langs]
        merged: Counter[str] = Counter()
        for per_source in by_lang.values():
            merged.update(per_source)
        mix = ", ".join(f"{s} {n}" for s, n in sorted(merged.items()))
        lines.append(f"| {intent} | " + " | ".join(totals) + f" | {mix} |")
    lines += ["", "## Sources and licenses", ""]
    lines += [f"- `{source}`: {text}" for source, text in card["licenses"].items()]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in card["versions"].items()), ""]
    return "\n".join(lines)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"
