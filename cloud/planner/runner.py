"""The model runner: a GLM-family causal LM (transformers) doing batched greedy decoding under xgrammar masks.

Checkpoints are local directories: a transformers checkpoint (`save_pretrained`), or an INT8 one written by
`cloud.planner.quantize` (torchao int8 weight-only tensors in `model.int8.pt` plus `quantization.json`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
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

from cloud.planner.batch import FinishReason, GenerationOutput, GenerationRequest
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
    """INT8 weight-only (torchao, per-row scales) for every Linear and Embedding, in place."""
    from torchao.quantization import Int8WeightOnlyConfig, quantize_  # type: ignore[import-untyped]

    def wanted(module: torch.nn.Module, _fqn: str) -> bool:
        return isinstance(module, torch.nn.Linear | torch.nn.Embedding)

    quantize_(model, Int8WeightOnlyConfig(), filter_fn=wanted)
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
        else:
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=TORCH_DTYPES[dtype])
            if dtype == "int8":
                quantize_int8(model)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"{model_dir}: cannot load the planner model: {exc}") from exc
    model.to(target).eval()
    loaded: PreTrainedModel = model
    return loaded


class ModelRunner:
    """Batched greedy generation with left padding, a KV cache and per-row JSON-schema grammars."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, name: str = "planner") -> None:
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
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=self.vocab_size,
                                                  stop_token_ids=sorted(self.eos_ids))
        self._compiler = xgr.GrammarCompiler(info)
        self._forward: Callable[..., Any] = model.forward

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
            runner._forward = torch.compile(model.forward, dynamic=True)
        return runner

    def matcher(self, schema: str) -> xgr.GrammarMatcher:
        """A fresh matcher for JSON-schema text (compiled grammars are cached by the compiler)."""
        grammar = self._compiler.compile_json_schema(schema, any_whitespace=False, separators=PLAN_SEPARATORS)
        return xgr.GrammarMatcher(grammar, terminate_without_stop_token=True)

    @torch.inference_mode()
    def generate(self, batch: Sequence[GenerationRequest], *,
                 should_stop: Callable[[int], bool] = lambda row: False) -> list[GenerationOutput]:
        """Greedy completions of `batch`; finished rows leave the batch (and the KV cache) as they end."""
        started = time.perf_counter()
        n = len(batch)
        matchers = [None if r.schema is None else self.matcher(r.schema) for r in batch]
        bitmask = xgr.allocate_token_bitmask(n, self.vocab_size) if any(matchers) else None
        enc = self.tokenizer([r.prompt for r in batch], return_tensors="pt", padding=True)
        ids = enc["input_ids"].to(self.device)  # (n, prompt_len), left padded
        mask = enc["attention_mask"].to(self.device)
        cache = DynamicCache()
        generated: list[list[int]] = [[] for _ in range(n)]
        reasons: list[FinishReason | None] = [None] * n
        first_token_s = 0.0
        active = list(range(n))  # batch rows still decoding, in the order of the model's batch dimension
        while True:
            positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1]:]
            out = self._forward(input_ids=ids, attention_mask=mask, position_ids=positions,
                                past_key_values=cache, use_cache=True)
            logits = out.logits[:, -1, :].float()  # (len(active), vocab)
            constrained = [i for i, row in enumerate(active) if matchers[row] is not None]
            if bitmask is not None and constrained:
                for i in constrained:
                    matchers[active[i]].fill_next_token_bitmask(bitmask, i)  # type: ignore[union-attr]
                xgr.apply_token_bitmask_inplace(logits, bitmask[: len(active)].to(logits.device),
                                                vocab_size=self.vocab_size, indices=constrained)
            tokens = logits.argmax(-1).tolist()
            if not first_token_s:
                first_token_s = time.perf_counter() - started
            keep: list[int] = []
            for i, row in enumerate(active):
                reasons[row] = self._advance(row, int(tokens[i]), batch[row], generated[row], matchers[row],
                                             should_stop)
                if reasons[row] is None:
                    keep.append(i)
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                mask = mask[index]
                active = [active[i] for i in keep]
            ids = torch.tensor([[generated[row][-1]] for row in active], device=self.device)
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
        return [GenerationOutput(self.tokenizer.decode(generated[row], skip_special_tokens=True), len(generated[row]),
                                 reasons[row] or "stop", first_token_s) for row in range(n)]

    def _advance(self, row: int, token: int, request: GenerationRequest, generated: list[int],
                 matcher: xgr.GrammarMatcher | None, should_stop: Callable[[int], bool]) -> FinishReason | None:
        """Take one token for a row; the reason the row ends, or None while it goes on."""
        if should_stop(row):
            return "cancelled"
        if token in self.eos_ids:
            return "stop"
        if matcher is not None and not matcher.accept_token(token):
            raise ModelError(f"grammar rejected token {token} it allowed (row {row})")
        generated.append(token)
        if matcher is not None and matcher.is_terminated():
            return "stop"
        return "length" if len(generated) >= request.max_new_tokens else None
