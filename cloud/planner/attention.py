"""Grouped-query attention for padded batches without copying the KV cache per head.

transformers' "sdpa" path repeats every KV head for its query heads whenever a mask is given (each decode step of
a left-padded batch), copying the whole cache per layer and token; SDPA's own `enable_gqa` reads it in place.
The runner passes its own 4-D boolean masks; without one the attention is causal, aligned to the last key.
"""

from __future__ import annotations

from typing import Any, Final

import torch
from transformers import AttentionInterface, PreTrainedModel

#: The name the runner's attention is registered under in transformers' attention registry.
ATTENTION_NAME: Final = "autoglm_gqa"


def gqa_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                  attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                  **kwargs: Any) -> tuple[torch.Tensor, None]:
    """query (rows, heads, q, dim), key/value (rows, kv_heads, k, dim) -> (rows, q, heads, dim)."""
    q_len, k_len = query.shape[2], key.shape[2]
    gqa = query.shape[1] != key.shape[1]
    if attention_mask is None and q_len > 1 and q_len != k_len:
        # Causal, with the queries at the end of the keys (a prompt's suffix after its cached prefix).
        attention_mask = torch.ones(q_len, k_len, dtype=torch.bool, device=query.device).tril(k_len - q_len)
    if attention_mask is not None and attention_mask.dtype == torch.bool and attention_mask.ndim == 4:
        attention_mask = attention_mask[..., :k_len]
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling,
        is_causal=attention_mask is None and q_len > 1, enable_gqa=gqa)
    return out.transpose(1, 2).contiguous(), None


def use_gqa_attention(model: PreTrainedModel) -> bool:
    """Switch `model` to `gqa_attention` (registered once, by name); False when the model cannot take it."""
    AttentionInterface.register(ATTENTION_NAME, gqa_attention)
    try:
        model.set_attn_implementation(ATTENTION_NAME)
    except (ValueError, AttributeError, NotImplementedError):
        return False
    return True
