"""Generated (home, instruction, plan) triples in English and Chinese, with whole compositions held out for evaluation.

Every example carries composition tags (`single:light`, `pair:cover+light`, `for:fan`, `act:<tool>:<lang>`, ...).
Examples with a tag in `HELD_OUT` never appear in the train or in-distribution splits; the `heldout` split holds
only them, so its accuracy measures whether the model composes parts it saw apart.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from cloud.planner.prompt import PLAN_SEPARATORS
from cloud.planner.schema import plan_to_json
from cloud.planner.tiny.homes import Home, random_home
from cloud.planner.tiny.patterns import PATTERN_FOR_TAG, PATTERNS, actionable
from shared.plan import Plan

#: Tags whose examples are kept out of training: action pairs, pattern x domain, and action x language.
HELD_OUT: Final = frozenset({
    "pair:cover+light", "pair:lock+media_player", "for:media_player", "delay:vacuum", "cond:humidity>fan",
    "act:media_player.volume_set:zh",
})
SPLITS: Final = ("train", "test", "heldout")


@dataclass(frozen=True, slots=True)
class Example:
    """One training pair: the home, what was said, in which language, and the plan that answers it."""

    home: Home
    text: str
    language: str
    plan: dict[str, Any]
    tags: tuple[str, ...]

    def target(self) -> str:
        """The plan as the model must write it: compact JSON in the schema's key order, non-ASCII kept."""
        return plan_to_json(Plan.model_validate(self.plan), separators=PLAN_SEPARATORS)


def held_out(tags: tuple[str, ...] | list[str]) -> bool:
    """True when an example's tags put it in the held-out compositions."""
    return any(t in HELD_OUT for t in tags)


def generate(split: str, count: int, *, seed: int, min_devices: int = 3, max_devices: int = 16,
             per_home: int = 1) -> Iterator[Example]:
    """`count` examples of `split` ("train", "test" in-distribution, "heldout" compositions), deterministic in seed.

    The held-out split cycles through `HELD_OUT`, so every held-out composition gets the same share. With
    `per_home` > 1, runs of that many consecutive examples share one home (training packs them into one sequence).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    rng = random.Random(f"planner-tiny:{seed}:{split}")
    names = list(PATTERNS)
    weights = [w for _, w in PATTERNS.values()]
    aims = sorted(HELD_OUT)
    made = 0
    home: Home | None = None
    uses = misses = 0
    while made < count:
        aim = aims[made % len(aims)] if split == "heldout" else None
        lang = rng.choice(("zh", "zh-cn")) if rng.random() < 0.5 else "en"
        if aim and aim.endswith((":en", ":zh")):
            lang = "en" if aim.endswith(":en") else rng.choice(("zh", "zh-cn"))
        name = PATTERN_FOR_TAG[aim.split(":")[0]] if aim else rng.choices(names, weights)[0]
        if home is None or uses >= per_home or misses >= 20:
            home, uses, misses = random_home(rng, min_devices=min_devices, max_devices=max_devices), 0, 0
        if not actionable(home):
            home = None
            continue
        result = PATTERNS[name][0](rng, home, lang)
        if result is None or ((aim not in result[2]) if aim else held_out(result[2])):
            misses += 1
            continue
        text, plan, tags = result
        made += 1
        uses += 1
        yield Example(home, text, lang, plan, tuple(tags))
