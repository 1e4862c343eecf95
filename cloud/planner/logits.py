"""Next-token logits in fp32 from the last hidden states of a bf16 or INT8 (torchao) model.

A bf16 logit keeps 8 significant bits: between 8 and 16 neighbouring values are 0.0625 apart, so two tokens a
grammar leaves open often tie exactly and greedy decoding then picks by token id, not by the model. On the tiny
planner most plans where bf16 and INT8 decoding parted did so at such a tie or a one-step gap (docs/planner-tiny.md).
The runner therefore takes logits from the output head with an fp32 result: on CUDA a bf16 matmul that accumulates
and returns fp32 (`torch.mm(..., out_dtype=torch.float32)`, no fp32 copy of the head), elsewhere fp32 operands.
An INT8 head is dequantized straight to the matmul's operand dtype, one step at a time, and keeps no float copy.
"""

from __future__ import annotations

import torch


class Fp32Logits:
    """The output head of a causal LM as a function hidden states (rows, hidden) -> fp32 logits (rows, vocab)."""

    def __init__(self, head: torch.nn.Module) -> None:
        weight = getattr(head, "weight", None)
        if not isinstance(weight, torch.Tensor):
            raise TypeError(f"the output head {type(head).__name__} has no weight tensor")
        self.head = head  # read at every call: the weight may be replaced (tied, quantized, moved) after this
        self._mm_out_dtype = weight.device.type == "cuda" and _mm_out_dtype_works(weight.device)

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        weight: torch.Tensor = self.head.weight  # type: ignore[assignment]
        bias = getattr(self.head, "bias", None)
        if self._mm_out_dtype and hidden.dtype in (torch.bfloat16, torch.float16):
            operand = _dense(weight, hidden.dtype)  # (vocab, hidden)
            logits = torch.mm(hidden, operand.t(), out_dtype=torch.float32)
        else:
            logits = torch.nn.functional.linear(hidden.float(), _dense(weight, torch.float32))
        return logits if bias is None else logits + bias.float()


def _dense(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A plain tensor of `dtype`: a torchao quantized weight is dequantized to it directly."""
    dequantize = getattr(weight, "dequantize", None)
    if getattr(weight, "tensor_data_names", None) is not None and dequantize is not None:
        dense: torch.Tensor = dequantize(output_dtype=dtype)
        return dense
    return weight.to(dtype)


def _mm_out_dtype_works(device: torch.device) -> bool:
    """Whether this torch build has the bf16 x bf16 -> fp32 matmul on `device` (CUDA builds since torch 2.8)."""
    probe = torch.ones(2, 2, dtype=torch.bfloat16, device=device)
    try:
        torch.mm(probe, probe, out_dtype=torch.float32)
    except (RuntimeError, NotImplementedError, TypeError):
        return False
    return True
