"""The planner's prompt and output format, shared by the engine, the remote backend and the tiny-planner trainer.

Changing anything here invalidates trained tiny planners: keep it stable.
"""

from __future__ import annotations

from typing import Final

SYSTEM: Final = "<|system|>"
USER: Final = "<|user|>"
ASSISTANT: Final = "<|assistant|>"
EOS: Final = "<|endoftext|>"
PAD: Final = "<|pad|>"
#: Special tokens a planner tokenizer must keep whole (pad first so it gets id 0, eos id 1).
SPECIAL_TOKENS: Final = (PAD, EOS, SYSTEM, USER, ASSISTANT)
#: Plans are written as compact JSON: `json.dumps(plan, separators=PLAN_SEPARATORS, ensure_ascii=False)`.
PLAN_SEPARATORS: Final = (",", ":")

INSTRUCTIONS: Final = (
    "You plan smart-home requests. Answer with one JSON object {\"steps\": [...]}, each step "
    "{\"id\": \"s1\", \"tool\": ..., \"args\": {...}, \"after\": [...]}, using only the devices and tools below. "
    "An argument \"$s1.value\" takes step s1's output; list s1 in after."
)


def render_prompt(text: str, language: str, devices_text: str) -> str:
    """The prompt a local planner model completes with the plan JSON and EOS."""
    return f"{SYSTEM}{devices_text.strip()}\n{USER}[{language}] {' '.join(text.split())}\n{ASSISTANT}"


def render_messages(text: str, language: str, devices_text: str) -> list[dict[str, str]]:
    """The same request as chat messages, for OpenAI-compatible servers."""
    return [
        {"role": "system", "content": f"{INSTRUCTIONS}\n{devices_text.strip()}"},
        {"role": "user", "content": f"[{language}] {' '.join(text.split())}"},
    ]
