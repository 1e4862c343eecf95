"""The tiny planner's own byte-level BPE tokenizer: words stay words, tool lines become single tokens.

Pre-tokenization splits a device id (`autoglm_sim_kitchen_light`) at its underscores into the same words the request
and the device names use ("kitchen", "light"), so the model can write an id from words it understood or copied,
and the id in the listing and in the plan JSON are the same tokens. Tool names (`light.turn_on`) stay one piece.
A whole tool line of the prompt's catalogue is one piece too: it repeats in every prompt, so BPE merges it into one
or a few tokens and the prompt stays short. Digits are single pieces, so numbers are copied digit by digit.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from cloud.planner.prompt import ASSISTANT, EOS, PAD, SPECIAL_TOKENS, SYSTEM, USER

#: A catalogue line ("\nlight: turn_on(brightness_pct?: 0-100, ...); turn_off", "tools: ..."; or the older
#: "\n- light.turn_on(device_id, ...)"), a tool name, a word, a run of Han characters, one digit, a newline, or a
#: run of anything else (punctuation, spaces, underscores).
PIECES = (r"\n?[a-z_]+: [^\n]*|\n- [a-z_]+(?:\.[a-z_]+)?\([^\n]*|[a-z]+(?:_[a-z]+)*\.[a-z]+(?:_[a-z]+)*"
          r"|[A-Za-z]+|\p{Han}+|\d|\n|[^A-Za-z\d\p{Han}\n]+")


def train_tokenizer(texts: Iterable[str], *, vocab_size: int, pieces: str | None = PIECES) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on `texts`; pad id 0, eos id 1, left padding (for batched generation).

    `pieces=None` splits text as GPT-2's byte-level BPE does instead of by `PIECES` (the random test checkpoints).
    """
    core = Tokenizer(models.BPE())
    if pieces is None:
        core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        core.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pieces), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core, eos_token=EOS, pad_token=PAD, additional_special_tokens=[SYSTEM, USER, ASSISTANT],
        padding_side="left", model_input_names=["input_ids", "attention_mask"])
    if tokenizer.pad_token_id != 0 or tokenizer.eos_token_id != 1:
        raise AssertionError("special tokens must come first in the vocabulary")
    return tokenizer
