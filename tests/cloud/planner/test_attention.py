"""Grouped-query attention without repeated KV heads equals the repeat-and-softmax reference."""

from __future__ import annotations

import torch

from cloud.planner.attention import gqa_attention


def reference(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Repeat KV heads, mask, softmax; (rows, q, heads, dim)."""
    groups = query.shape[1] // key.shape[1]
    key, value = key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1)
    scores = (query @ key.transpose(-1, -2)) * query.shape[-1] ** -0.5
    scores = scores.masked_fill(~allowed, float("-inf"))
    return (scores.softmax(-1) @ value).transpose(1, 2)


def test_decode_step_with_a_padding_mask() -> None:
    torch.manual_seed(0)
    query, key, value = torch.randn(3, 4, 1, 8), torch.randn(3, 2, 6, 8), torch.randn(3, 2, 6, 8)
    allowed = torch.ones(3, 1, 1, 6, dtype=torch.bool)
    allowed[0, ..., :2] = False  # a left-padded row
    out, _ = gqa_attention(torch.nn.Module(), query, key, value, allowed, scaling=8**-0.5)
    assert torch.allclose(out, reference(query, key, value, allowed), atol=1e-5)


def test_without_a_mask_queries_are_causal_and_aligned_to_the_last_keys() -> None:
    torch.manual_seed(1)
    query, key, value = torch.randn(1, 4, 3, 8), torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
    causal = torch.ones(3, 5, dtype=torch.bool).tril(2)  # query i sees keys 0 .. 2 + i (a suffix after a prefix)
    out, _ = gqa_attention(torch.nn.Module(), query, key, value, None, scaling=8**-0.5)
    assert torch.allclose(out, reference(query, key, value, causal), atol=1e-5)
    square, _ = gqa_attention(torch.nn.Module(), query, key[:, :, :3], value[:, :, :3], None, scaling=8**-0.5)
    expected = reference(query, key[:, :, :3], value[:, :, :3], torch.ones(3, 3, dtype=torch.bool).tril())
    assert torch.allclose(square, expected, atol=1e-5)
