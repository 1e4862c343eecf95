"""Tokenizer, BIO alignment, student save/load, distillation loss, training loop and calibration."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer

from autoglm.intent.calibrate import calibrate, fit_temperature, oos_threshold
from autoglm.intent.distill import FitConfig, distill_loss, evaluate, fit
from autoglm.intent.model import IntentSlotModel, student_config
from autoglm.intent.tokenizer import (
    CLS_ID,
    IGNORE_INDEX,
    PAD_ID,
    SEP_ID,
    bio_labels,
    bio_to_spans,
    collate,
    encode_examples,
    train_tokenizer,
)
from shared.intent import INTENT_LABELS, OUT_OF_SCOPE, SLOT_LABELS, Example, Span
from tests.autoglm.intent import make_examples

S = {label: i for i, label in enumerate(SLOT_LABELS)}
OOS = INTENT_LABELS.index(OUT_OF_SCOPE)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return make_examples(per_intent=24, seed=0)


@pytest.fixture(scope="module")
def tok(examples: list[Example]) -> Tokenizer:
    return train_tokenizer([ex.text for ex in examples], vocab_size=2000, max_length=24)


def tiny_student(vocab_size: int) -> IntentSlotModel:
    torch.manual_seed(0)
    return IntentSlotModel(student_config(vocab_size, layers=1, hidden=32, heads=2, intermediate=64))


def test_tokenizer_splits_cjk_characters_and_keeps_offsets(tok: Tokenizer) -> None:
    text = "打开客厅的台灯"
    enc = tok.encode(text)
    assert enc.ids[0] == CLS_ID and enc.ids[-1] == SEP_ID
    assert enc.tokens[1:-1] == list(text)  # one token per CJK character
    assert [text[s:e] for s, e in enc.offsets[1:-1]] == list(text)
    assert enc.special_tokens_mask == [1] + [0] * len(text) + [1]


def test_tokenizer_normalizes_english_with_offsets_into_the_original(tok: Tokenizer) -> None:
    text = "Turn ON the Ｋitchen lamp 40%"
    enc = tok.encode(text)
    words = [text[s:e] for (s, e), special in zip(enc.offsets, enc.special_tokens_mask, strict=True) if not special]
    assert "".join(words).replace("Ｋ", "K").lower() == "turnonthekitchenlamp40%"
    assert words[-1] == "%"
    assert all(w.isdigit() or not any(c.isdigit() for c in w) for w in words)  # numbers end on token boundaries
    assert "[UNK]" not in enc.tokens


def test_tokenizer_training_is_deterministic(examples: list[Example], tok: Tokenizer) -> None:
    again = train_tokenizer([ex.text for ex in examples], vocab_size=2000, max_length=24)
    assert again.to_str() == tok.to_str()


def test_tokenizer_file_carries_truncation_and_no_padding(tok: Tokenizer, tmp_path: Path) -> None:
    tok.save(str(tmp_path / "tokenizer.json"))
    loaded = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    long = " ".join(["turn on the lamp"] * 20)
    enc = loaded.encode(long)
    assert len(enc.ids) == 24 and enc.ids[-1] == SEP_ID
    short = loaded.encode("turn on the lamp")
    assert len(short.ids) == 6 and set(short.attention_mask) == {1}  # no padding in the file
    assert loaded.token_to_id("[PAD]") == PAD_ID


def test_bio_labels_from_spans_en_and_zh(tok: Tokenizer) -> None:
    text = "set the living room lamp to 5%"
    spans = [Span(slot="area", start=8, end=19), Span(slot="name", start=20, end=24),
             Span(slot="number", start=28, end=29)]
    enc = tok.encode(text)
    labels = bio_labels(enc.offsets, enc.special_tokens_mask, spans)
    by_token = dict(zip(enc.tokens, labels, strict=True))
    assert labels[0] == labels[-1] == IGNORE_INDEX
    assert [by_token[t] for t in ("set", "living", "room", "lamp", "5", "%")] == [
        S["O"], S["B-area"], S["I-area"], S["B-name"], S["B-number"], S["O"]]
    assert bio_to_spans(labels, enc.offsets) == [("area", 8, 19), ("name", 20, 24), ("number", 28, 29)]

    zh = "把客厅的台灯调到5"
    zh_spans = [Span(slot="area", start=1, end=3), Span(slot="name", start=4, end=6),
                Span(slot="number", start=8, end=9)]
    enc = tok.encode(zh)
    labels = bio_labels(enc.offsets, enc.special_tokens_mask, zh_spans)
    assert labels[1:-1] == [S["O"], S["B-area"], S["I-area"], S["O"], S["B-name"], S["I-name"], S["O"], S["O"],
                            S["B-number"]]
    assert bio_to_spans(labels, enc.offsets) == [("area", 1, 3), ("name", 4, 6), ("number", 8, 9)]


def test_bio_span_starting_on_whitespace_still_opens_with_b(tok: Tokenizer) -> None:
    enc = tok.encode("turn on the lamp")
    labels = bio_labels(enc.offsets, enc.special_tokens_mask, [Span(slot="name", start=11, end=16)])
    assert labels[-2] == S["B-name"]


def test_bio_to_spans_treats_a_stray_inside_tag_as_a_start() -> None:
    offsets = [(0, 0), (0, 3), (4, 7), (8, 11), (0, 0)]
    labels = [IGNORE_INDEX, S["I-area"], S["I-area"], S["B-name"], IGNORE_INDEX]
    assert bio_to_spans(labels, offsets) == [("area", 0, 7), ("name", 8, 11)]


def test_student_round_trips_through_save_pretrained(tok: Tokenizer, examples: list[Example], tmp_path: Path) -> None:
    model = tiny_student(tok.get_vocab_size()).eval()
    batch = collate(encode_examples(tok, examples[:5]), range(5))
    intent, slots = model(batch["input_ids"], batch["attention_mask"])
    assert intent.shape == (5, len(INTENT_LABELS))
    assert slots.shape == (5, batch["input_ids"].shape[1], len(SLOT_LABELS))

    model.save_pretrained(tmp_path / "student")
    loaded = IntentSlotModel.from_pretrained(str(tmp_path / "student")).eval()
    assert loaded.config.intent_labels == list(INTENT_LABELS)
    assert loaded.config.num_hidden_layers == 1
    intent2, slots2 = loaded(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(intent2, intent)
    torch.testing.assert_close(slots2, slots)


def test_distill_loss_terms() -> None:
    torch.manual_seed(0)
    intent, slots = torch.randn(4, 18), torch.randn(4, 6, 9)
    hard, tags = torch.tensor([0, 3, 17, 5]), torch.randint(0, 9, (4, 6))
    tags[:, 0] = IGNORE_INDEX
    ce = torch.nn.functional.cross_entropy
    slot_ce = ce(slots[:, 1:].reshape(-1, 9), tags[:, 1:].reshape(-1))
    only_hard = distill_loss(intent, slots, hard, tags, None)
    torch.testing.assert_close(only_hard, ce(intent, hard) + slot_ce)
    # A teacher that agrees with the student adds no KL: alpha=1 leaves only the slot term.
    torch.testing.assert_close(distill_loss(intent, slots, hard, tags, intent.clone(), alpha=1.0), slot_ce)
    other = distill_loss(intent, slots, hard, tags, torch.randn(4, 18) * 3, alpha=1.0, temperature=2.0)
    assert other > slot_ce + 0.01


def test_fit_is_deterministic_and_learns(tok: Tokenizer, examples: list[Example]) -> None:
    data = encode_examples(tok, examples)
    cfg = FitConfig(epochs=6, batch_size=16, lr=3e-3, unk_dropout=0.05)
    models = [tiny_student(tok.get_vocab_size()) for _ in range(2)]
    histories = [fit(m, data, cfg, seed=7, progress=False) for m in models]
    assert histories[0] == histories[1]
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(a, b)
    assert histories[0][-1] < histories[0][0] / 2
    metrics = evaluate(models[0], data)
    assert metrics["intent_acc"] > 0.8  # chance is 1/18
    assert metrics["slot_f1"] > 0.5


def test_fit_temperature_recovers_a_known_scale() -> None:
    torch.manual_seed(0)
    true_logits = torch.randn(4000, 18) * 2
    labels = torch.distributions.Categorical(logits=true_logits).sample()
    assert fit_temperature(true_logits * 3, labels) == pytest.approx(3.0, rel=0.15)
    assert fit_temperature(true_logits / 2, labels) == pytest.approx(0.5, rel=0.15)


def test_oos_threshold_keeps_false_accepts_within_budget() -> None:
    labels = torch.full((100,), OOS)
    predicted = torch.full((100,), OOS)
    predicted[:5] = 0  # five out-of-scope examples predicted in scope
    confidence = torch.full((100,), 0.99, dtype=torch.float64)
    confidence[:5] = torch.tensor([0.99, 0.95, 0.9, 0.8, 0.7], dtype=torch.float64)
    t = oos_threshold(confidence, predicted, labels, budget=0.02)  # 2 of 100 may pass
    assert 0.9 < t < 0.9 + 1e-9
    assert int(((predicted != OOS) & (confidence >= t)).sum()) == 2
    t_strict = oos_threshold(confidence, predicted, labels, budget=0.005)
    assert int(((predicted != OOS) & (confidence >= t_strict)).sum()) == 0
    assert oos_threshold(confidence, predicted, labels, budget=0.05) == 0.0  # 5 allowed: no threshold needed
    with pytest.raises(ValueError, match="out_of_scope"):
        oos_threshold(confidence, predicted, torch.zeros(100, dtype=torch.long), budget=0.02)


def test_calibrate_returns_a_temperature_and_ordered_thresholds() -> None:
    torch.manual_seed(1)
    labels = torch.randint(0, 18, (600,))
    logits = torch.randn(600, 18) + 4 * torch.nn.functional.one_hot(labels, 18)
    cal = calibrate(logits, labels, floor=0.0, high_risk_floor=0.0)
    assert cal.temperature > 0 and math.isfinite(cal.temperature)
    assert 0 <= cal.thresholds.default <= cal.thresholds.high_risk <= 1
    assert cal.metrics["calib_oos_accept_default"] <= 0.02
    assert cal.metrics["calib_oos_accept_high_risk"] <= 0.005
    assert cal.metrics["calib_nll_scaled"] <= cal.metrics["calib_nll_raw"] + 1e-9
    floored = calibrate(logits, labels)
    assert floored.thresholds.default >= 0.5 and floored.thresholds.high_risk >= 0.8
