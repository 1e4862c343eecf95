"""KV caches for batched decoding: preallocated left-padded slabs, and prompt prefixes shared between requests.

transformers' DynamicCache concatenates every step (copying the whole cache per token and layer); a slab is
allocated once per batch for prompt + new tokens and written in place, as gpt-fast and vLLM do. Requests for the
same home share their system prompt (the device listing), so its keys and values are computed once and kept in an
LRU bounded by bytes, as vLLM's prefix caching does.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from transformers.cache_utils import Cache, CacheLayerMixin

#: One layer's keys and values for one sequence: two (1, kv_heads, length, head_dim) tensors.
LayerKV = tuple[torch.Tensor, torch.Tensor]


class SlabLayer(CacheLayerMixin):
    """One layer's keys and values for a batch, in (rows, kv_heads, capacity, head_dim) buffers written in place."""

    is_sliding = False

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.keys: torch.Tensor = keys
        self.values: torch.Tensor = values
        self.length = length  # columns in use; every row writes the same column (rows are left padded)
        self.is_initialized = True

    def lazy_initialization(self, key_states: torch.Tensor) -> None:
        """Nothing to do: slabs are allocated up front."""

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor,
               cache_kwargs: dict[str, Any] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new columns in place; views of every column in use."""
        end = self.length + key_states.shape[-2]
        if end > self.keys.shape[-2]:
            raise RuntimeError(f"KV slab full: {end} > {self.keys.shape[-2]} columns")
        self.keys[:, :, self.length:end] = key_states
        self.values[:, :, self.length:end] = value_states
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def get_mask_sizes(self, cache_position: torch.Tensor) -> tuple[int, int]:
        """Key length and offset for mask creation."""
        return self.length + cache_position.shape[0], 0

    def get_seq_length(self) -> int:
        """Columns in use."""
        return self.length

    def get_max_cache_shape(self) -> int:
        """The slab's capacity in columns."""
        return int(self.keys.shape[-2])

    def keep_rows(self, rows: Sequence[int]) -> None:
        """Keep only `rows` (ascending): moved rows' used columns are copied down in place, no new slab."""
        for target, source in enumerate(rows):
            if target != source:  # source > target: the source row has not been overwritten yet
                self.keys[target, :, :self.length] = self.keys[source, :, :self.length]
                self.values[target, :, :self.length] = self.values[source, :, :self.length]
        self.keys, self.values = self.keys[:len(rows)], self.values[:len(rows)]


class SlabCache(Cache):
    """A batch's KV cache: per layer one slab; rows are left padded to the longest prompt."""

    def __init__(self, layers: Sequence[SlabLayer]) -> None:
        super().__init__(layers=list(layers))
        self.slabs = list(layers)

    @classmethod
    def from_prompts(cls, prompts: Sequence[Sequence[LayerKV]], capacity: int) -> SlabCache:
        """Slabs holding each prompt's KV right-aligned at the longest prompt's length, `capacity` columns wide."""
        longest = max(kv[0][0].shape[-2] for kv in prompts)
        layers = []
        for layer in range(len(prompts[0])):
            k0 = prompts[0][layer][0]
            shape = (len(prompts), k0.shape[1], capacity, k0.shape[3])
            # Columns past the prompts are written before they are read; padding must be finite (masked, not NaN).
            keys, values = k0.new_empty(shape), k0.new_empty(shape)
            for row, kv in enumerate(prompts):
                k, v = kv[layer]
                pad = longest - k.shape[-2]
                keys[row, :, :pad] = 0
                values[row, :, :pad] = 0
                keys[row, :, pad:longest] = k[0]
                values[row, :, pad:longest] = v[0]
            layers.append(SlabLayer(keys, values, longest))
        return cls(layers)

    def keep_rows(self, rows: Sequence[int]) -> None:
        """Drop every row not in `rows` (ascending), in every layer."""
        for layer in self.slabs:
            layer.keep_rows(rows)


def layer_kv(cache: Cache) -> list[LayerKV]:
    """Per layer (keys, values) of a one-row cache."""
    pairs = []
    for layer in cache.layers:
        if layer.keys is None or layer.values is None:
            raise RuntimeError("a cache layer without keys or values")
        pairs.append((layer.keys, layer.values))
    return pairs


class PrefixCache:
    """Prompt-prefix KV (one row) by token ids, least recently used dropped first beyond `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[int, ...], list[LayerKV]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, tokens: tuple[int, ...]) -> list[LayerKV] | None:
        """The cached KV of exactly these tokens, or None."""
        found = self._entries.get(tokens)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(tokens)
        return found

    def put(self, tokens: tuple[int, ...], kv: list[LayerKV]) -> None:
        """Keep `kv` for `tokens` (unless it alone exceeds the budget)."""
        size = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)
        if size > self.max_bytes or tokens in self._entries:
            return
        self._entries[tokens] = kv
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self.bytes -= sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in dropped)

    def clear(self) -> None:
        """Forget everything (after the model changes)."""
        self._entries.clear()
        self.bytes = 0
