"""fp32 logits from a bf16 or INT8 output head: no ties made by bf16 rounding, INT8 dequantized exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from cloud.planner.logits import Fp32Logits
from cloud.planner.runner import ModelRunner, load_model, quantize_int8
from tests.cloud.planner.checkpoints import build


def head(rows: list[list[float]], dtype: torch.dtype = torch.bfloat16) -> torch.nn.Linear:
    layer = torch.nn.Linear(len(rows[0]), len(rows), bias=False)
    layer.weight = torch.nn.Parameter(torch.tensor(rows, dtype=dtype), requires_grad=False)
    return layer


def test_two_logits_one_bf16_step_apart_are_told_apart() -> None:
    # 16.0 and 16.03125: bf16 keeps 8 significant bits, so both round to 16.0 and argmax would take token 0.
    layer = head([[16.0, 0.0], [16.0, 0.03125]])
    hidden = torch.ones(1, 2, dtype=torch.bfloat16)
    rounded = layer(hidden)
    assert rounded.dtype == torch.bfloat16 and rounded[0, 0] == rounded[0, 1]  # the tie this module avoids
    logits = Fp32Logits(layer)(hidden)
    assert logits.dtype == torch.float32
    assert logits[0].tolist() == [16.0, 16.03125]
    assert int(logits.argmax(-1)) == 1


def test_bf16_head_gives_the_fp32_product_of_its_bf16_values() -> None:
    torch.manual_seed(0)
    layer = head(torch.randn(50, 24).tolist())
    layer.bias = torch.nn.Parameter(torch.randn(50, dtype=torch.bfloat16), requires_grad=False)
    hidden = torch.randn(3, 24).to(torch.bfloat16)
    expected = hidden.float() @ layer.weight.float().t() + layer.bias.float()
    assert torch.allclose(Fp32Logits(layer)(hidden), expected, rtol=1e-6, atol=1e-5)


def test_int8_head_is_dequantized_to_fp32_not_through_bf16() -> None:
    torch.manual_seed(1)
    model = torch.nn.Sequential(head(torch.randn(40, 32).tolist()))
    quantize_int8(model)
    weight = model[0].weight
    assert type(weight).__name__ == "Int8Tensor"
    hidden = torch.randn(2, 32).to(torch.bfloat16)
    exact = weight.qdata.float() * weight.scale.float().reshape(-1, 1)  # (vocab, hidden) in fp32
    assert torch.allclose(Fp32Logits(model[0])(hidden), hidden.float() @ exact.t(), rtol=1e-6, atol=1e-5)


def test_the_head_weight_is_read_at_each_call() -> None:
    layer = head([[1.0, 0.0], [0.0, 1.0]])
    logits = Fp32Logits(layer)
    layer.weight = torch.nn.Parameter(torch.tensor([[0.0, 2.0], [2.0, 0.0]], dtype=torch.bfloat16))  # e.g. re-tied
    assert logits(torch.tensor([[1.0, 0.0]], dtype=torch.bfloat16)).tolist() == [[0.0, 2.0]]


def test_a_head_without_weight_is_refused() -> None:
    with pytest.raises(TypeError, match="no weight"):
        Fp32Logits(torch.nn.Identity())


def test_the_runner_decodes_from_the_models_own_head_in_fp32(tmp_path: Path) -> None:
    model = load_model(build(tmp_path / "tiny"), dtype="bf16")
    runner = ModelRunner(model, AutoTokenizer.from_pretrained(tmp_path / "tiny"))
    ids = torch.arange(3, 20).unsqueeze(0)
    with torch.inference_mode():
        hidden = model.get_decoder()(input_ids=ids).last_hidden_state[:, -1]  # (1, hidden) bf16
        got = runner._logits(hidden)
        reference = model(input_ids=ids).logits[:, -1].float()  # transformers' bf16 logits, upcast afterwards
    assert got.dtype == torch.float32
    assert torch.allclose(got, hidden.float() @ model.lm_head.weight.float().t(), rtol=1e-6, atol=1e-5)
    assert torch.allclose(got, reference, atol=0.1)  # the same logits, without bf16's last rounding
