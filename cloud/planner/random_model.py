"""Random-weight GLM-4 checkpoints with our own tokenizer, for tests and benchmarks (nothing downloaded)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import Glm4Config, Glm4ForCausalLM

from cloud.planner.tiny.tokenizer import train_tokenizer

#: Trained on first: the characters every plan needs, so merges cover JSON even when `texts` are few.
_SEED_TEXT = '{"steps":[{"id":"s1","tool":"light.turn_on","args":{"device_id":"x"},"after":[]}]} $s1.value 0123456789'


def tiny_config(vocab_size: int, *, layers: int = 2, hidden: int = 64, heads: int = 4, kv_heads: int = 2,
                ffn: int = 128, max_positions: int = 2048, init_std: float = 0.02) -> Glm4Config:
    """A small Glm4Config; pad id 0 and eos id 1 as `train_tokenizer` assigns them."""
    return Glm4Config(  # type: ignore[no-untyped-call]
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=hidden // heads,
        max_position_embeddings=max_positions, pad_token_id=0, eos_token_id=1, bos_token_id=None,
        tie_word_embeddings=False, initializer_range=init_std)


def random_checkpoint(out_dir: Path, texts: Iterable[str], *, seed: int = 0, vocab_size: int = 512,
                      layers: int = 2, hidden: int = 64, ffn: int = 128, init_std: float = 0.02) -> Path:
    """Save a random Glm4ForCausalLM and a byte-level BPE tokenizer trained on `texts` to `out_dir` (fp32).

    A larger `init_std` makes the random model's outputs depend more on its input (more varied plans).
    """
    tokenizer = train_tokenizer([_SEED_TEXT, *texts], vocab_size=vocab_size, pieces=None)
    torch.manual_seed(seed)
    # The model's vocab is padded to a multiple of 64, as real checkpoints do; the extra ids are never produced
    # under a grammar and decode to nothing otherwise.
    vocab = (len(tokenizer) + 63) // 64 * 64
    model = Glm4ForCausalLM(tiny_config(vocab, layers=layers, hidden=hidden, ffn=ffn, init_std=init_std))  # type: ignore[no-untyped-call]
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
