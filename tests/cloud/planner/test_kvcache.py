"""KV slabs (left-padded, written in place, compacted in place) and the prompt-prefix LRU."""

from __future__ import annotations

import torch

from cloud.planner.kvcache import PrefixCache, SlabCache


def kv(length: int, fill: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Two layers of one row's keys/values, (1, 2 kv heads, length, 4), all `fill`."""
    return [(torch.full((1, 2, length, 4), fill), torch.full((1, 2, length, 4), -fill)) for _ in range(2)]


def test_prompts_are_right_aligned_with_zero_padding_and_updates_write_in_place() -> None:
    cache = SlabCache.from_prompts([kv(3, 1.0), kv(5, 2.0)], capacity=8)
    layer = cache.layers[0]
    assert cache.get_seq_length() == 5 and layer.get_max_cache_shape() == 8
    assert torch.equal(layer.keys[0, 0, :5, 0], torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0]))
    assert torch.equal(layer.values[1, 0, :5, 0], torch.full((5,), -2.0))
    buffer = layer.keys
    keys, values = cache.update(torch.full((2, 2, 1, 4), 9.0), torch.full((2, 2, 1, 4), 8.0), 0)
    assert keys.shape == (2, 2, 6, 4) and keys.data_ptr() == buffer.data_ptr()  # a view, no copy
    assert torch.equal(keys[:, :, 5], torch.full((2, 2, 4), 9.0))
    assert torch.equal(values[:, :, 5], torch.full((2, 2, 4), 8.0))


def test_keep_rows_moves_rows_down_in_place() -> None:
    cache = SlabCache.from_prompts([kv(2, 1.0), kv(2, 2.0), kv(2, 3.0)], capacity=4)
    buffer = cache.layers[1].keys
    cache.keep_rows([0, 2])
    keys = cache.layers[1].keys
    assert keys.shape[0] == 2 and keys.data_ptr() == buffer.data_ptr()
    assert torch.equal(keys[:, 0, :2, 0], torch.tensor([[1.0, 1.0], [3.0, 3.0]]))
    assert torch.equal(cache.layers[1].values[1, 0, :2, 0], torch.tensor([-3.0, -3.0]))


def test_prefix_cache_is_an_lru_bounded_by_bytes() -> None:
    entry_bytes = 2 * 2 * (1 * 2 * 3 * 4) * 4  # 2 layers x (keys + values) x elements x 4 bytes
    cache = PrefixCache(max_bytes=2 * entry_bytes)
    cache.put((1,), kv(3, 1.0))
    cache.put((2,), kv(3, 2.0))
    assert cache.get((1,)) is not None  # (1,) is now the most recently used
    cache.put((3,), kv(3, 3.0))
    assert cache.get((2,)) is None and cache.get((3,)) is not None and len(cache) == 2
    assert cache.bytes == 2 * entry_bytes and (cache.hits, cache.misses) == (2, 1)
    cache.put((4,), kv(30, 4.0))  # bigger than the whole budget: not kept, nothing evicted
    assert len(cache) == 2 and cache.get((4,)) is None
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0
