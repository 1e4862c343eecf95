"""Student tokenizer (BPE, one token per CJK character) and span <-> BIO alignment through offsets.

BPE rather than WordPiece: tokenizers' WordPieceTrainer gives a different vocabulary from run to run
(hash-map order decides the ids of its "##" pieces and so merge ties, huggingface/tokenizers#1794),
while BpeTrainer without a continuing-subword prefix is deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from shared.intent import INTENT_LABELS, SLOT_LABELS, Example, Span

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID = range(4)
#: Label of tokens that carry no slot tag ([CLS], [SEP], padding); ignored by the loss and by F1.
IGNORE_INDEX = -100
#: CJK ideographs (+ extension A, compatibility, supplementary planes): each becomes its own pre-token.
CJK_CHAR = r"[\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{F900}-\x{FAFF}\x{20000}-\x{2FA1F}]"

_SLOT_ID = {label: i for i, label in enumerate(SLOT_LABELS)}
_INTENT_ID = {label: i for i, label in enumerate(INTENT_LABELS)}


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = 8000, max_length: int = 48) -> Tokenizer:
    """Train the student's tokenizer; truncation to `max_length` is saved in tokenizer.json."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(CJK_CHAR), behavior="isolated"),
            pre_tokenizers.BertPreTokenizer(),  # whitespace and punctuation
            pre_tokenizers.Digits(individual_digits=False),  # "22c" -> "22", "c": number slots end on a token
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [PAD_ID, UNK_ID, CLS_ID, SEP_ID]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)]
    )
    tok.enable_truncation(max_length=max_length)
    tok.no_padding()  # the runtime pads a batch to its longest row itself
    return tok


def bio_labels(offsets: Sequence[tuple[int, int]], special: Sequence[int], spans: Sequence[Span]) -> list[int]:
    """Token BIO label ids from character spans: the first token touching a span is B-, later ones I-."""
    labels: list[int] = []
    started: set[int] = set()
    for (start, end), is_special in zip(offsets, special, strict=True):
        if is_special:
            labels.append(IGNORE_INDEX)
            continue
        label = _SLOT_ID["O"]
        for k, span in enumerate(spans):
            if start < span.end and end > span.start:
                label = _SLOT_ID[("I-" if k in started else "B-") + span.slot]
                started.add(k)
                break
        labels.append(label)
    return labels


def bio_to_spans(labels: Sequence[int], offsets: Sequence[tuple[int, int]]) -> list[tuple[str, int, int]]:
    """(slot, start, end) character spans from token label ids; a stray I- opens a span (conlleval rule)."""
    spans: list[tuple[str, int, int]] = []
    current: list[object] | None = None  # [slot, start, end]
    for label, (start, end) in zip(labels, offsets, strict=True):
        tag = SLOT_LABELS[label] if 0 <= label < len(SLOT_LABELS) else "O"
        prefix, _, slot = tag.partition("-")
        if current is not None and (prefix != "I" or slot != current[0]):
            spans.append((str(current[0]), int(current[1]), int(current[2])))  # type: ignore[call-overload]
            current = None
        if prefix == "B" or (prefix == "I" and current is None):
            current = [slot, start, end]
        elif prefix == "I" and current is not None:
            current[2] = end
    if current is not None:
        spans.append((str(current[0]), int(current[1]), int(current[2])))  # type: ignore[call-overload]
    return spans


@dataclass(frozen=True)
class Encoded:
    """Examples encoded by one tokenizer: unpadded token ids, slot label ids, offsets and intent ids."""

    ids: list[list[int]]
    slots: list[list[int]]
    offsets: list[list[tuple[int, int]]]
    intents: list[int]
    pad_id: int
    unk_id: int

    def __len__(self) -> int:
        return len(self.ids)


def encode_examples(tok: Tokenizer, examples: Sequence[Example]) -> Encoded:
    """Encode examples with `tok` (its saved truncation applies) and align their spans to BIO labels."""
    pad_id, unk_id = tok.token_to_id("[PAD]"), tok.token_to_id("[UNK]")
    if pad_id is None or unk_id is None:
        raise ValueError("the tokenizer needs [PAD] and [UNK] tokens")
    encodings = tok.encode_batch([ex.text for ex in examples])
    pairs = zip(encodings, examples, strict=True)
    return Encoded(
        ids=[list(e.ids) for e in encodings],
        slots=[bio_labels(e.offsets, e.special_tokens_mask, ex.spans) for e, ex in pairs],
        offsets=[list(e.offsets) for e in encodings],
        intents=[_INTENT_ID[ex.intent] for ex in examples],
        pad_id=pad_id,
        unk_id=unk_id,
    )


def batches(lengths: Sequence[int], batch_size: int, *, seed: int | None) -> Iterator[list[int]]:
    """Index batches. With a seed: shuffled, and bucketed by length within windows to cut padding."""
    order = list(range(len(lengths)))
    if seed is None:
        yield from (order[i : i + batch_size] for i in range(0, len(order), batch_size))
        return
    rng = random.Random(seed)
    rng.shuffle(order)
    window = batch_size * 32
    out: list[list[int]] = []
    for w in range(0, len(order), window):
        chunk = sorted(order[w : w + window], key=lambda i: lengths[i])
        out.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(out)
    yield from out


def collate(
    data: Encoded, idx: Sequence[int], *, unk_dropout: float = 0.0, rng: random.Random | None = None
) -> dict[str, torch.Tensor]:
    """Pad rows `idx` to the longest: input_ids, attention_mask [B, T]; slot_labels [B, T]; intents [B]."""
    width = max(len(data.ids[i]) for i in idx)
    input_ids = torch.full((len(idx), width), data.pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    slots = torch.full((len(idx), width), IGNORE_INDEX, dtype=torch.long)
    for row, i in enumerate(idx):
        ids = list(data.ids[i])
        if unk_dropout and rng is not None:
            # Word dropout to [UNK] trains the [UNK] embedding and robustness to unseen names.
            ids = [
                data.unk_id if label != IGNORE_INDEX and rng.random() < unk_dropout else t
                for t, label in zip(ids, data.slots[i], strict=True)
            ]
        input_ids[row, : len(ids)] = torch.tensor(ids)
        mask[row, : len(ids)] = 1
        slots[row, : len(ids)] = torch.tensor(data.slots[i])
    intents = torch.tensor([data.intents[i] for i in idx], dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": mask, "slot_labels": slots, "intents": intents}
