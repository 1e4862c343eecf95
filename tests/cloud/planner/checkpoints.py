"""Random tiny GLM-4 checkpoints for the planner tests (built from a config; nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

from cloud.fleet import Device
from cloud.planner.catalogue import describe
from cloud.planner.prompt import render_prompt
from cloud.planner.random_model import random_checkpoint

DEVICES = [
    Device("light.kitchen", "e1", "home", "light", "Kitchen light", "kitchen"),
    Device("lock.front", "e1", "home", "lock", "Front door", "hall"),
    Device("climate.bedroom", "e1", "home", "climate", "Bedroom AC", "bedroom"),
]
REQUESTS = ["turn off the kitchen light", "lock up", "如果卧室超过26度就开空调并通知我", "hi", "set the AC to 22",
            "when I leave, turn everything off and lock up", "把客厅的灯打开", "wait ten minutes then notify me"]


def build(out_dir: Path, *, seed: int = 0) -> Path:
    """A 2-layer, 64-wide random Glm4ForCausalLM with a BPE tokenizer trained on planner prompts."""
    texts = [render_prompt(text, "en", describe(DEVICES)) for text in REQUESTS]
    return random_checkpoint(out_dir, texts * 3, seed=seed, vocab_size=768, layers=2, hidden=64, ffn=128)
