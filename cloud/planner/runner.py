"""The model runner: a GLM-family causal LM (transformers) doing batched greedy decoding under xgrammar masks.

Checkpoints are local directories: a transformers checkpoint (`save_pretrained`), or an INT8 one written by
`cloud.planner.quantize` (torchao int8 weight-only tensors in `model.int8.pt` plus `quantization.json`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import torch
import xgrammar as xgr
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from cloud.planner.attention import use_gqa_attention
from cloud.planner.batch import FinishReason, GenerationOutput, GenerationRequest
from cloud.planner.closing import Closer
from cloud.planner.kvcache import LayerKV, PrefixCache, SlabCache, layer_kv
from cloud.planner.logits import Fp32Logits
from cloud.planner.prompt import PLAN_SEPARATORS
from shared.errors import ModelError

log = logging.getLogger(__name__)

Dtype = Literal["int8", "bf16", "fp32"]
#: An INT8 checkpoint's manifest and weights file.
INT8_MANIFEST: Final = "quantization.json"
INT8_WEIGHTS: Final = "model.int8.pt"
INT8_FORMAT: Final = "autoglm-int8-weight-only/1"
TORCH_DTYPES: Final[dict[str, torch.dtype]] = {"bf16": torch.bfloat16, "fp32": torch.float32,
                                               "int8": torch.bfloat16}


def resolve_device(device: str) -> torch.device:
    """"auto" is CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """INT8 weight-only (torchao, per-row scales) for every Linear and Embedding, in place.

    A tied output head stays tied: the head reuses the quantized embedding instead of holding a second INT8 copy
    (a small model's vocabulary is a large share of its weights).
    """
    from torchao.quantization import Int8WeightOnlyConfig, quantize_  # type: ignore[import-untyped]

    embeddings = model.get_input_embeddings() if isinstance(model, PreTrainedModel) else None
    head = model.get_output_embeddings() if isinstance(model, PreTrainedModel) else None  # type: ignore[no-untyped-call]
    tied = isinstance(embeddings, torch.nn.Embedding) and isinstance(head, torch.nn.Linear) and \
        head.weight is embeddings.weight

    def wanted(module: torch.nn.Module, _fqn: str) -> bool:
        return isinstance(module, torch.nn.Linear | torch.nn.Embedding) and not (tied and module is head)

    quantize_(model, Int8WeightOnlyConfig(), filter_fn=wanted)
    if tied and isinstance(head, torch.nn.Linear) and isinstance(embeddings, torch.nn.Embedding):
        head.weight = embeddings.weight
    return model


def tensor_bytes(tensor: torch.Tensor) -> int:
    """Bytes a (possibly torchao-quantized) tensor holds: int8 data plus scales for quantized ones."""
    names = getattr(tensor, "tensor_data_names", None)
    if names is not None:
        return sum(tensor_bytes(getattr(tensor, name)) for name in names)
    return tensor.numel() * tensor.element_size()


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of all parameters (shared ones counted once)."""
    seen: set[int] = set()
    total = 0
    for param in model.parameters():
        if id(param) not in seen:
            seen.add(id(param))
            total += tensor_bytes(param)
    return total


def load_model(model_dir: Path, *, dtype: Dtype = "fp32", device: str = "cpu") -> PreTrainedModel:
    """A causal LM from a local directory; INT8 checkpoints load as saved, others are quantized when dtype is int8."""
    if not (model_dir / "config.json").is_file():
        raise ModelError(f"{model_dir}: no config.json; give a checkpoint directory (save_pretrained or quantize)")
    target = resolve_device(device)
    manifest = model_dir / INT8_MANIFEST
    try:
        if manifest.is_file():
            info = json.loads(manifest.read_text(encoding="utf-8"))
            if info.get("format") != INT8_FORMAT:
                raise ModelError(f"{manifest}: format {info.get('format')!r}, expected {INT8_FORMAT!r}")
            config = AutoConfig.from_pretrained(model_dir)
            compute = TORCH_DTYPES[info["compute_dtype"]]
            model = AutoModelForCausalLM.from_config(config, dtype=compute)  # type: ignore[no-untyped-call]
            state = torch.load(model_dir / info["weights"], map_location=target, weights_only=True)
            model.load_state_dict(state, strict=True, assign=True)
            if getattr(config, "tie_word_embeddings", False):  # assign=True gave the head its own copy
                model.get_output_embeddings().weight = model.get_input_embeddings().weight
        else:
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=TORCH_DTYPES[dtype])
            if dtype == "int8":
                quantize_int8(model)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"{model_dir}: cannot load the planner model: {exc}") from exc
    model.to(target).eval()
    loaded: PreTrainedModel = model
    return loaded


@dataclass(eq=False, slots=True)
class _Row:
    """One request's decoding state."""

    request: GenerationRequest
    matcher: xgr.GrammarMatcher | None
    generated: list[int] = field(default_factory=list)
    reason: FinishReason | None = None
    path: list[int] | None = None  # the closing path being followed, once in the budget window
    window: int = 0  # the last this many tokens of the budget are spent closing the grammar


class ModelRunner:
    """Batched greedy generation: per-row prefill (shared prompt prefixes cached), one KV slab, grammar masks."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, name: str = "planner",
                 prefix_cache_bytes: int = 256 << 20) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.device = next(model.parameters()).device
        self.vocab_size = int(model.config.vocab_size)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        eos = model.config.eos_token_id
        config_eos = eos if isinstance(eos, list) else [] if eos is None else [eos]
        self.eos_ids = {int(tokenizer.eos_token_id), *map(int, config_eos)}
        self._special = frozenset(int(i) for i in tokenizer.all_special_ids)
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=self.vocab_size,
                                                  stop_token_ids=sorted(self.eos_ids))
        self._compiler = xgr.GrammarCompiler(info)
        self.closer = Closer(tokenizer, info)
        self.prefixes = PrefixCache(prefix_cache_bytes)
        self._windows: dict[tuple[str | None, str | None], int] = {}
        self.closing_rows = 0  # rows that reached their budget window and were closed by the closing rule
        self.gqa_attention = use_gqa_attention(model)
        # The decoder stack alone: the runner takes logits at the last position only, and in fp32 (logits.py).
        self._forward: Callable[..., Any] = model.get_decoder().forward  # type: ignore[no-untyped-call]
        self._logits = Fp32Logits(model.get_output_embeddings())  # type: ignore[no-untyped-call]

    @classmethod
    def load(cls, model_dir: Path, *, dtype: Dtype = "int8", device: str = "auto", compile: bool = True) -> ModelRunner:
        """Model and tokenizer from a local directory; `torch.compile` on CUDA only."""
        model = load_model(model_dir, dtype=dtype, device=device)
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_dir)  # type: ignore[no-untyped-call]
        except (OSError, ValueError) as exc:
            raise ModelError(f"{model_dir}: cannot load the tokenizer: {exc}") from exc
        runner = cls(model, tokenizer, name=model_dir.name)
        if compile and runner.device.type == "cuda":
            runner._forward = torch.compile(model.get_decoder().forward, dynamic=True)  # type: ignore[no-untyped-call]
        return runner

    def matcher(self, schema: str | None = None, *, grammar: str | None = None) -> xgr.GrammarMatcher:
        """A fresh matcher for JSON-schema text or EBNF (compiled grammars are cached by the compiler)."""
        if grammar is not None:
            compiled = self._compiler.compile_grammar(grammar)
        elif schema is not None:
            compiled = self._compiler.compile_json_schema(schema, any_whitespace=False, separators=PLAN_SEPARATORS)
        else:
            raise ValueError("a matcher needs a schema or a grammar")
        return xgr.GrammarMatcher(compiled, terminate_without_stop_token=True)

    @torch.inference_mode()
    def generate(self, batch: Sequence[GenerationRequest], *,
                 should_stop: Callable[[int], bool] = lambda row: False) -> list[GenerationOutput]:
        """Greedy completions of `batch`; finished rows leave the batch (and the KV slab) as they end."""
        started = time.perf_counter()
        rows = [_Row(r, None if r.schema is None and r.grammar is None else self.matcher(r.schema, grammar=r.grammar))
                for r in batch]
        for row in rows:
            if row.matcher is not None:
                row.window = self._window(row.request, row.matcher)
        prompts = [self._prefill(r.prompt) for r in batch]
        lengths = [kv[0][0].shape[-2] for kv, _ in prompts]
        longest = max(lengths)
        cache = SlabCache.from_prompts([kv for kv, _ in prompts], longest + max(r.max_new_tokens for r in batch))
        valid = torch.zeros(len(rows), cache.layers[0].get_max_cache_shape(), dtype=torch.bool, device=self.device)
        for i, length in enumerate(lengths):
            valid[i, longest - length:longest] = True
        positions = torch.tensor(lengths, device=self.device)
        logits = self._logits(torch.stack([last for _, last in prompts]))  # (rows in the slab, vocab), fp32
        first_token_s = time.perf_counter() - started
        slab = list(range(len(rows)))  # batch row of each slab row
        bitmask = xgr.allocate_token_bitmask(len(rows), self.vocab_size) if any(r.matcher for r in rows) else None
        while True:
            self._mask(logits, [rows[i] for i in slab], bitmask)
            tokens = logits.argmax(-1).tolist()
            for j, i in enumerate(slab):
                if rows[i].reason is None:
                    rows[i].reason = self._advance(i, int(tokens[j]), rows[i], should_stop)
            keep = [j for j, i in enumerate(slab) if rows[i].reason is None]
            if not keep:
                break
            if len(slab) - len(keep) >= max(1, len(slab) // 8):  # compact: copying beats computing dead rows
                cache.keep_rows(keep)
                index = torch.tensor(keep, device=self.device)
                valid, positions = valid[index], positions[index]
                slab = [slab[j] for j in keep]
            column = cache.get_seq_length()
            valid[:, column] = True
            ids = torch.tensor([[rows[i].generated[-1] if rows[i].generated else 0] for i in slab],
                               device=self.device)
            out = self._forward(input_ids=ids, attention_mask=valid[:, None, None, :column + 1],
                                position_ids=positions[:, None], past_key_values=cache, use_cache=True,
                                cache_position=torch.tensor([column], device=self.device))
            positions = positions + 1
            logits = self._logits(out.last_hidden_state[:, -1])
        return [GenerationOutput(self.tokenizer.decode(row.generated, skip_special_tokens=True), len(row.generated),
                                 row.reason or "stop", first_token_s) for row in rows]

    def _prefill(self, prompt: str) -> tuple[list[LayerKV], torch.Tensor]:
        """One prompt's KV and last hidden state; the part up to its last special token comes from the prefix cache."""
        ids: list[int] = self.tokenizer(prompt)["input_ids"]
        split = next((i + 1 for i in range(len(ids) - 2, -1, -1) if ids[i] in self._special), 0)
        cache = DynamicCache()
        if split:
            key = tuple(ids[:split])
            prefix = self.prefixes.get(key)
            if prefix is None:
                self._forward(input_ids=torch.tensor([ids[:split]], device=self.device), past_key_values=cache,
                              use_cache=True)
                prefix = layer_kv(cache)
                self.prefixes.put(key, prefix)
                cache = DynamicCache()
            for layer, (keys, values) in enumerate(prefix):
                cache.update(keys, values, layer)  # copies: the cached prefix stays as it is
        out = self._forward(input_ids=torch.tensor([ids[split:]], device=self.device),
                            position_ids=torch.arange(split, len(ids), device=self.device)[None],
                            cache_position=torch.arange(split, len(ids), device=self.device),
                            past_key_values=cache, use_cache=True)
        return layer_kv(cache), out.last_hidden_state[0, -1]

    def _mask(self, logits: torch.Tensor, rows: Sequence[_Row], bitmask: torch.Tensor | None) -> None:
        """Apply each constrained row's grammar mask to its logits, in place."""
        constrained = [j for j, row in enumerate(rows) if row.matcher is not None and row.reason is None]
        if bitmask is None or not constrained:
            return
        for j in constrained:
            rows[j].matcher.fill_next_token_bitmask(bitmask, j)  # type: ignore[union-attr]
        xgr.apply_token_bitmask_inplace(logits, bitmask[: len(rows)].to(logits.device), vocab_size=self.vocab_size,
                                        indices=constrained)

    def _advance(self, index: int, token: int, row: _Row, should_stop: Callable[[int], bool]) -> FinishReason | None:
        """Take one token for a row (or its closing path's, near the budget); why the row ends, or None."""
        if should_stop(index):
            return "cancelled"
        if row.matcher is None:
            if token in self.eos_ids:
                return "stop"
        else:
            token = self._within_budget(row, token)
            if token in self.eos_ids and row.matcher.is_completed():
                return "stop"
            if not row.matcher.accept_token(token):
                raise ModelError(f"grammar rejected token {token} it allowed (row {index})")
        row.generated.append(token)
        if row.matcher is not None and row.matcher.is_terminated():
            return "stop"
        return "length" if len(row.generated) >= row.request.max_new_tokens else None

    def _within_budget(self, row: _Row, token: int) -> int:
        """The model's token, or in the row's last `window` tokens the closing path's when the two differ."""
        assert row.matcher is not None
        left = row.request.max_new_tokens - len(row.generated)  # tokens still allowed, this one included
        if left > row.window:
            return token
        if row.path is None:
            row.path = self.closer.path(row.matcher)
            self.closing_rows += 1
            if row.path is None or len(row.path) > left:
                log.warning("no closing path fits the budget; the output may be cut off",
                            extra={"left": left, "path": None if row.path is None else len(row.path)})
                row.window, row.path = 0, None
                return token
        if not row.path:
            return token
        chosen, row.path = row.path[0], row.path[1:]
        return chosen

    def _window(self, request: GenerationRequest, matcher: xgr.GrammarMatcher) -> int:
        """Tokens before the budget's end where a row starts closing: the grammar's start path and a margin."""
        key = (request.schema, request.grammar)
        window = self._windows.get(key)
        if window is None:
            start = self.closer.path(matcher)
            # From any state the closing rule finishes the current step and closes: about one minimal plan.
            window = 0 if start is None else len(start) * 5 // 4 + 16
            if len(self._windows) >= 256:
                self._windows.clear()
            self._windows[key] = window
        return window
