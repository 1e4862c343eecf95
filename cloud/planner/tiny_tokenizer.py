"""Byte-level BPE tokenizers for tiny planner models, trained here so nothing is downloaded."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from cloud.planner.prompt import ASSISTANT, EOS, PAD, SPECIAL_TOKENS, SYSTEM, USER

#: Characters every plan needs, so a tokenizer covers JSON even when trained on little text.
_SEED_TEXT = '{"steps":[{"id":"s1","tool":"light.turn_on","args":{"device_id":"x"},"after":[]}]} $s1.value 0123456789'


def build_tokenizer(texts: Iterable[str], *, vocab_size: int = 1024, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on `texts` (covers any UTF-8), with pad id 0, eos id 1, left padding."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator([_SEED_TEXT, *texts], trainer)
    return wrap(core)


def wrap(core: Tokenizer) -> PreTrainedTokenizerFast:
    """`core` as a transformers tokenizer with the planner's special tokens and left padding."""
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[SYSTEM, USER, ASSISTANT],
        padding_side="left",
    )
    return tokenizer
