"""GLM-4-9B-shaped decoding with random weights: bf16 vs INT8 weight-only, batch 1 and 32, against the bandwidth bound.

Usage: python bench/planner_gpu.py [--tiny] [--steps N] [--prompt-len N] [--no-compile]
The model has GLM-4-9B's shape (40 layers, hidden 4096, FFN 13696, 32 heads, 2 KV heads, head dim 128, vocab
151552). The card's copy bandwidth is measured in the same run; a decode step must read every weight once, so
the bound is batch x bandwidth / weight bytes read per step (embedding rows excluded, KV cache ignored).
Each step runs as the cloud's runner serves it: the decoder stack (compiled for INT8 on CUDA), then the output head
at the last position with fp32 logits (cloud.planner.logits). `--tiny` runs the same code on CPU with a small
config (for CI). The last line of stdout is a JSON summary.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from transformers import DynamicCache, Glm4Config, Glm4ForCausalLM  # noqa: E402

from cloud.planner.logits import Fp32Logits  # noqa: E402
from cloud.planner.runner import quantize_int8, tensor_bytes, weight_bytes  # noqa: E402

GLM4_9B = {"vocab_size": 151552, "hidden_size": 4096, "intermediate_size": 13696, "num_hidden_layers": 40,
           "num_attention_heads": 32, "num_key_value_heads": 2, "head_dim": 128}
TINY = {"vocab_size": 4096, "hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64}


def sync(device: torch.device) -> None:
    """Wait for queued device work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def copy_bandwidth(device: torch.device, mib: int) -> float:
    """Bytes per second of a device-to-device copy (each byte read once and written once)."""
    src = torch.empty(mib * 2**20, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    sync(device)
    iters = 20
    started = time.perf_counter()
    for _ in range(iters):
        dst.copy_(src)
    sync(device)
    return 2 * src.numel() * iters / (time.perf_counter() - started)


def read_bytes_per_step(model: torch.nn.Module) -> int:
    """Weight bytes one decode step reads: everything but the input embedding table."""
    embedding = model.get_input_embeddings().weight  # type: ignore[operator]
    return weight_bytes(model) - tensor_bytes(embedding)


def decode_rate(forward: Callable[..., Any], head: Fp32Logits, vocab: int, batch: int, prompt_len: int, steps: int,
                device: torch.device) -> float:
    """Generated tokens per second over `steps` greedy decode steps after a prefill."""
    ids = torch.randint(0, vocab, (batch, prompt_len), device=device)
    cache = DynamicCache()

    def step(ids: torch.Tensor) -> torch.Tensor:  # (batch, n) -> next tokens (batch, 1)
        hidden = forward(input_ids=ids, past_key_values=cache, use_cache=True).last_hidden_state[:, -1]
        return head(hidden).argmax(-1, keepdim=True)

    with torch.inference_mode():
        token = step(ids)
        for _ in range(2):  # warm-up steps (and compilation) outside the timing
            token = step(token)
        sync(device)
        started = time.perf_counter()
        for _ in range(steps):
            token = step(token)
        sync(device)
    return batch * steps / (time.perf_counter() - started)


def measure(model: torch.nn.Module, forward: Callable[..., Any], vocab: int, bandwidth: float, args: argparse.Namespace,
            device: torch.device) -> dict[str, Any]:
    """Weight bytes and, per batch size, tokens/s and the fraction of the bandwidth bound."""
    read = read_bytes_per_step(model)
    out: dict[str, Any] = {"weight_bytes": weight_bytes(model), "bytes_read_per_step": read}
    head = Fp32Logits(model.get_output_embeddings())  # type: ignore[operator]
    for batch in (1, 32):
        rate = decode_rate(forward, head, vocab, batch, args.prompt_len, args.steps, device)
        bound = batch * bandwidth / read
        out[f"batch_{batch}"] = {"tokens_per_s": round(rate, 2), "bound_tokens_per_s": round(bound, 2),
                                 "fraction_of_bound": round(rate / bound, 6)}
        print(f"batch {batch:2d}: {rate:10.1f} tok/s, bound {bound:10.1f}, fraction {rate / bound:.3f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="small config on CPU (CI)")
    parser.add_argument("--steps", type=int, default=None, help="decode steps timed (default 64; tiny 8)")
    parser.add_argument("--prompt-len", type=int, default=128)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile for INT8 on CUDA")
    args = parser.parse_args()
    args.steps = args.steps or (8 if args.tiny else 64)
    if args.tiny:
        args.prompt_len = min(args.prompt_len, 32)
        torch.set_num_threads(1)  # small matmuls: extra threads only contend
    device = torch.device("cpu" if args.tiny or not torch.cuda.is_available() else "cuda")
    shape = TINY if args.tiny else GLM4_9B
    config = Glm4Config(**shape,  # type: ignore[no-untyped-call]
                        pad_token_id=0, eos_token_id=1, bos_token_id=None, tie_word_embeddings=False,
                        max_position_embeddings=4096)
    bandwidth = copy_bandwidth(device, 64 if args.tiny else 2048)
    print(f"{device}: copy bandwidth {bandwidth / 1e9:.1f} GB/s", flush=True)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)  # build in bf16 directly: 9B fp32 would need 38 GB first
    with torch.device(device):
        model = Glm4ForCausalLM(config)  # type: ignore[no-untyped-call]
    torch.set_default_dtype(torch.float32)
    model.eval()  # type: ignore[no-untyped-call]
    print("bf16:", flush=True)
    decoder = model.get_decoder()  # type: ignore[no-untyped-call]
    bf16 = measure(model, decoder.forward, config.vocab_size, bandwidth, args, device)
    quantize_int8(model)
    gc.collect()
    forward: Callable[..., Any] = decoder.forward
    compiled = device.type == "cuda" and not args.no_compile
    if compiled:
        forward = torch.compile(decoder.forward, dynamic=True)
    print(f"int8 (torchao weight-only{', torch.compile' if compiled else ''}):", flush=True)
    int8 = measure(model, forward, config.vocab_size, bandwidth, args, device)
    summary = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "shape": "tiny" if args.tiny else "glm-4-9b", "config": shape, "steps": args.steps,
        "prompt_len": args.prompt_len, "copy_bandwidth_gbs": round(bandwidth / 1e9, 2), "int8_compiled": compiled,
        "bf16": bf16, "int8": int8, "int8_to_bf16_weight_bytes": round(int8["weight_bytes"] / bf16["weight_bytes"], 4),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
