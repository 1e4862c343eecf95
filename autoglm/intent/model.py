"""The student: a small BERT encoder with an intent head (mean pool) and a per-token BIO slot head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, BertConfig, BertModel
from transformers.models.bert.modeling_bert import BertPreTrainedModel

from shared.intent import INTENT_LABELS, SLOT_LABELS


class StudentConfig(BertConfig):
    """BertConfig plus the label lists, so a saved student knows its heads."""

    model_type = "autoglm_intent_student"

    def __init__(
        self,
        intent_labels: list[str] | tuple[str, ...] = INTENT_LABELS,
        slot_labels: list[str] | tuple[str, ...] = SLOT_LABELS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.intent_labels = list(intent_labels)
        self.slot_labels = list(slot_labels)


# Lets AutoConfig (and optimum's quantizer, which looks for config.json) read a saved student.
AutoConfig.register(StudentConfig.model_type, StudentConfig, exist_ok=True)


def student_config(vocab_size: int, *, layers: int = 4, hidden: int = 256, heads: int = 4,
                   intermediate: int = 1024, max_positions: int = 64, dropout: float = 0.1) -> StudentConfig:
    """The student's architecture; eager attention keeps the ONNX graph plain MatMuls for INT8."""
    return StudentConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_positions,
        type_vocab_size=1,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        pad_token_id=0,
        attn_implementation="eager",
    )


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of token states over the mask: [B, T, H], [B, T] -> [B, H]."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class IntentSlotHeads(nn.Module):
    """Intent logits from the mean-pooled states, slot logits from each token state."""

    def __init__(self, hidden: int, n_intents: int, n_slots: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.intent = nn.Linear(hidden, n_intents)
        self.slot = nn.Linear(hidden, n_slots)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.dropout(mean_pool(hidden, attention_mask))  # [B, H]
        return self.intent(pooled), self.slot(self.dropout(hidden))  # [B, C], [B, T, S]


class IntentSlotModel(BertPreTrainedModel):
    """forward(input_ids, attention_mask) -> (intent_logits [B, n_intents], slot_logits [B, T, n_slot_labels])."""

    config_class = StudentConfig

    def __init__(self, config: StudentConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.heads = IntentSlotHeads(
            config.hidden_size, len(config.intent_labels), len(config.slot_labels), config.hidden_dropout_prob
        )
        self.post_init()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [B, T, H]
        return self.heads(hidden, attention_mask)  # type: ignore[no-any-return]
