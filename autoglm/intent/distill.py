"""Distillation loss, the training loop shared by teacher and student, and calib-split evaluation."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from autoglm.intent.tokenizer import IGNORE_INDEX, Encoded, batches, bio_to_spans, collate
from shared.intent import INTENT_LABELS

#: model(input_ids, attention_mask) -> (intent_logits [B, C], slot_logits [B, T, S])
IntentSlotForward = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class FitConfig:
    """One training run. alpha weighs the teacher's soft intents against the hard intent labels."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.01
    warmup: float = 0.06
    alpha: float = 0.5
    temperature: float = 2.0
    slot_weight: float = 1.0
    unk_dropout: float = 0.0
    max_examples: int | None = None
    #: learning rate of freshly initialised parameters (heads, added embedding rows; default: lr).
    #: Next to a pretrained encoder they need a much higher one than the encoder.
    head_lr: float | None = None


def distill_loss(
    intent_logits: torch.Tensor,  # [B, C]
    slot_logits: torch.Tensor,  # [B, T, S]
    intents: torch.Tensor,  # [B]
    slot_labels: torch.Tensor,  # [B, T], IGNORE_INDEX on [CLS]/[SEP]/padding
    teacher_logits: torch.Tensor | None = None,  # [B, C]
    *,
    alpha: float = 0.5,
    temperature: float = 2.0,
    slot_weight: float = 1.0,
) -> torch.Tensor:
    """alpha * KL(student/T || teacher/T) * T^2 + (1 - alpha) * CE(intent) + slot_weight * CE(slot BIO)."""
    hard = F.cross_entropy(intent_logits, intents)
    if teacher_logits is None or alpha == 0:
        intent_loss = hard
    else:
        t = temperature
        kd = F.kl_div(
            F.log_softmax(intent_logits / t, dim=-1),
            F.log_softmax(teacher_logits / t, dim=-1),
            log_target=True,
            reduction="batchmean",
        ) * (t * t)
        intent_loss = alpha * kd + (1 - alpha) * hard
    slot = F.cross_entropy(slot_logits.flatten(0, 1), slot_labels.flatten(), ignore_index=IGNORE_INDEX)
    return intent_loss + slot_weight * slot


def _param_groups(model: nn.Module, cfg: FitConfig) -> list[dict[str, object]]:
    """AdamW groups: no weight decay on biases, LayerNorms and embeddings; fresh parameters at head_lr."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            decay = not (param.ndim < 2 or "LayerNorm" in name or "embeddings" in name)
            fresh = name.startswith("heads.") or ".added." in name
            groups.setdefault((fresh, decay), []).append(param)
    return [
        {"params": params, "weight_decay": cfg.weight_decay if decay else 0.0,
         "lr": (cfg.head_lr or cfg.lr) if head else cfg.lr}
        for (head, decay), params in groups.items()
    ]


def fit(
    model: nn.Module,
    data: Encoded,
    cfg: FitConfig,
    *,
    teacher_logits: torch.Tensor | None = None,  # [N, C], row i for data row i
    seed: int = 0,
    progress: bool = True,
    desc: str = "train",
) -> list[float]:
    """Train in place with AdamW and linear warmup/decay; returns the mean loss of each epoch.

    Deterministic for a seed (dropout, order, [UNK] dropout) on a fixed thread count.
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    n = len(data) if cfg.max_examples is None else min(len(data), cfg.max_examples)
    rows = sorted(rng.sample(range(len(data)), n)) if n < len(data) else list(range(n))
    lengths = [len(data.ids[i]) for i in rows]
    steps_per_epoch = -(-n // cfg.batch_size)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg), lr=cfg.lr)
    total = steps_per_epoch * cfg.epochs
    schedule = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup * total), total)
    history: list[float] = []
    model.train()
    for epoch in range(cfg.epochs):
        bar = tqdm(
            list(batches(lengths, cfg.batch_size, seed=seed * 1000 + epoch)),
            desc=f"{desc} {epoch + 1}/{cfg.epochs}",
            disable=not progress,
            unit="batch",
        )
        running = 0.0
        for step, positions in enumerate(bar, start=1):
            idx = [rows[p] for p in positions]
            batch = collate(data, idx, unk_dropout=cfg.unk_dropout, rng=rng)
            intent_logits, slot_logits = model(batch["input_ids"], batch["attention_mask"])
            soft = teacher_logits[idx] if teacher_logits is not None else None
            loss = distill_loss(
                intent_logits, slot_logits, batch["intents"], batch["slot_labels"], soft,
                alpha=cfg.alpha, temperature=cfg.temperature, slot_weight=cfg.slot_weight,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            running += loss.item()
            if step % 10 == 0 or step == len(bar):
                bar.set_postfix(loss=f"{running / step:.4f}")
        history.append(running / max(1, steps_per_epoch))
    model.eval()
    return history


@torch.inference_mode()
def predict(model: IntentSlotForward, data: Encoded, *, batch_size: int = 256) -> tuple[torch.Tensor, list[list[int]]]:
    """Intent logits [N, C] and per-token slot label ids (unpadded) for every row of `data`."""
    if isinstance(model, nn.Module):
        model.eval()
    logits = torch.zeros((len(data), len(INTENT_LABELS)))
    slots: list[list[int]] = [[] for _ in range(len(data))]
    by_length = sorted(range(len(data)), key=lambda i: len(data.ids[i]))  # less padding
    for start in range(0, len(data), batch_size):
        idx = by_length[start : start + batch_size]
        batch = collate(data, idx)
        intent_logits, slot_logits = model(batch["input_ids"], batch["attention_mask"])
        logits[idx] = intent_logits.float()
        tags = slot_logits.argmax(dim=-1)  # [B, T]
        for row, i in enumerate(idx):
            slots[i] = tags[row, : len(data.ids[i])].tolist()
    return logits, slots


def slot_f1(data: Encoded, predicted: list[list[int]]) -> float:
    """Micro span F1: a predicted (slot, start, end) counts only if it matches a gold span exactly."""
    tp = n_pred = n_gold = 0
    for gold, pred, offsets in zip(data.slots, predicted, data.offsets, strict=True):
        pred = [p if g != IGNORE_INDEX else 0 for p, g in zip(pred, gold, strict=True)]
        gold_spans = set(bio_to_spans(gold, offsets))
        pred_spans = set(bio_to_spans(pred, offsets))
        tp += len(gold_spans & pred_spans)
        n_pred += len(pred_spans)
        n_gold += len(gold_spans)
    if n_gold == 0 and n_pred == 0:
        return 1.0
    return 2 * tp / (n_pred + n_gold)


def evaluate(model: IntentSlotForward, data: Encoded) -> dict[str, float]:
    """intent_acc and slot_f1 of `model` on `data`."""
    logits, slots = predict(model, data)
    acc = (logits.argmax(dim=-1) == torch.tensor(data.intents)).float().mean().item()
    return {"intent_acc": acc, "slot_f1": slot_f1(data, slots)}
