"""Tests for the intent training-data generator (autoglm/intent/data.py and its template modules)."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from autoglm.intent.augment import augment, kind_of
from autoglm.intent.data import IN_SCOPE, LABEL_WEIGHT, generate, split, write_dataset
from autoglm.intent.phrasings_sampler import Piece, parse, parse_rules, render, sample
from shared.intent import INTENT_LABELS, OUT_OF_SCOPE, Example

PER_INTENT = 60
LANGUAGES = ("en", "zh-cn")
_TEMPLATE_SYNTAX = re.compile(r"[{}\[\]<>|]")


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return generate(seed=0, per_intent=PER_INTENT)


def test_same_seed_is_identical_and_other_seed_differs(examples: list[Example]) -> None:
    again = generate(seed=0, per_intent=PER_INTENT)
    assert [e.model_dump_json() for e in again] == [e.model_dump_json() for e in examples]
    other = generate(seed=1, per_intent=PER_INTENT)
    assert [e.text for e in other] != [e.text for e in examples]


def test_every_label_in_every_language(examples: list[Example]) -> None:
    counts = Counter((e.language, e.intent) for e in examples)
    for language in LANGUAGES:
        for label in INTENT_LABELS:
            assert counts[(language, label)] > 0, (language, label)
        for label in IN_SCOPE:
            assert counts[(language, label)] == round(PER_INTENT * LABEL_WEIGHT.get(label, 1.0)), (language, label)
    assert {e.intent for e in examples} == set(INTENT_LABELS)


def test_spans_are_exact_and_do_not_overlap(examples: list[Example]) -> None:
    for e in examples:
        last_end = 0
        for span in sorted(e.spans, key=lambda s: s.start):
            said = e.text[span.start:span.end]
            assert said and said == said.strip(), (e.text, span)
            assert span.end <= len(e.text)
            assert span.start >= last_end, f"overlapping spans in {e.text!r}"
            last_end = span.end
        if e.intent == OUT_OF_SCOPE:
            assert not e.spans, e.text


def test_no_template_syntax_or_stray_whitespace(examples: list[Example]) -> None:
    for e in examples:
        assert not _TEMPLATE_SYNTAX.search(e.text), e.text
        assert e.text == e.text.strip() and "  " not in e.text, repr(e.text)


def test_slot_kinds_show_up_where_expected(examples: list[Example]) -> None:
    slots = Counter((e.intent, s.slot) for e in examples for s in e.spans)
    assert slots[("HassLightSet", "color")] > 0
    assert slots[("HassLightSet", "number")] > 0
    assert slots[("HassClimateSetTemperature", "number")] > 0
    assert slots[("HassVacuumCleanArea", "area")] > 0
    assert slots[("HassTurnOn", "name")] > 0


def test_out_of_scope_share_and_sources(examples: list[Example]) -> None:
    for language in LANGUAGES:
        rows = [e for e in examples if e.language == language]
        share = sum(e.intent == OUT_OF_SCOPE for e in rows) / len(rows)
        assert 0.30 <= share <= 0.40, (language, share)
        sources = {e.source for e in rows if e.intent == OUT_OF_SCOPE}
        assert {"negative", "ha_non_device", "chatterbot"} <= sources


def test_english_is_mostly_slurp_style(examples: list[Example]) -> None:
    english = [e.text for e in examples if e.language == "en"]
    plain = sum(t == t.lower() and not re.search(r"[,?!]", t) for t in english)
    assert plain / len(english) > 0.8


def test_oos_ratio_is_respected() -> None:
    rows = generate(seed=0, per_intent=20, languages=("en",), oos_ratio=0.3)
    share = sum(e.intent == OUT_OF_SCOPE for e in rows) / len(rows)
    assert abs(share - 0.3) < 0.02
    assert {e.language for e in rows} == {"en"}


def test_split_is_stratified_and_complete(examples: list[Example]) -> None:
    train, calib = split(examples, calib_fraction=0.1, seed=0)
    assert len(train) + len(calib) == len(examples)
    groups = Counter((e.intent, e.language) for e in examples)
    in_calib = Counter((e.intent, e.language) for e in calib)
    for key, n in groups.items():
        assert in_calib[key] == round(n * 0.1), key
    assert split(examples, seed=0) == (train, calib)


def test_write_dataset_files_card_and_stable_hash(tmp_path: Path) -> None:
    messages: list[str] = []
    card = write_dataset(tmp_path / "a", seed=0, per_intent=20, progress=messages.append)
    again = write_dataset(tmp_path / "b", seed=0, per_intent=20)
    assert card["data_hash"] == again["data_hash"]
    assert (tmp_path / "a" / "train.jsonl").read_bytes() == (tmp_path / "b" / "train.jsonl").read_bytes()
    assert messages
    for name in ("train.jsonl", "calib.jsonl", "data_card.json", "DATA_CARD.md"):
        assert (tmp_path / "a" / name).is_file()
    train = [Example.model_validate_json(line) for line in (tmp_path / "a" / "train.jsonl").read_text().splitlines()]
    calib = (tmp_path / "a" / "calib.jsonl").read_text().splitlines()
    assert card["train"] == len(train) and card["calib"] == len(calib)
    total = sum(n for by_lang in card["counts"].values() for per_src in by_lang.values() for n in per_src.values())
    assert total == card["total"] == len(train) + len(calib)
    assert set(card["counts"]) == set(INTENT_LABELS)
    assert card["seed"] == 0 and len(card["data_hash"]) == 64
    assert all(text != "unknown" for text in card["licenses"].values())
    assert json.loads((tmp_path / "a" / "data_card.json").read_text()) == card
    assert card["data_hash"] in (tmp_path / "a" / "DATA_CARD.md").read_text()


def test_sampler_tracks_spans_through_alternatives_and_permutations() -> None:
    template = parse("(turn|switch) [the] {light} (on;<where>)", parse_rules({"where": "in the {area}"}))

    def fill(name: str, rng: random.Random) -> Piece:
        return Piece({"light": "floor lamp", "area": "living room"}[name], "name" if name == "light" else "area")

    rng = random.Random(0)
    for _ in range(20):
        text, spans = render(sample(template, fill, rng), "en")
        assert {(s.slot, text[s.start:s.end]) for s in spans} == {("name", "floor lamp"), ("area", "living room")}


def test_render_drops_spaces_between_chinese_characters() -> None:
    text, spans = render([Piece("把 "), Piece("客厅", "area"), Piece(" 的灯 打开 ")], "zh-cn")
    assert text == "把客厅的灯打开"
    assert text[spans[0].start:spans[0].end] == "客厅"


def test_augment_keeps_spans_exact() -> None:
    pieces = [Piece("turn on the "), Piece("ceiling light", "name"), Piece(" in the "), Piece("kitchen", "area")]
    rng = random.Random(0)
    for _ in range(200):
        out, _ = augment(pieces, "en", "command", rng)
        text, spans = render(out, "en")
        assert [text[s.start:s.end].lower() for s in spans if s.slot == "name"] == ["ceiling light"]
        assert [text[s.start:s.end].lower() for s in spans if s.slot == "area"] == ["kitchen"]


def test_kind_of_tells_commands_from_questions_and_statements() -> None:
    assert kind_of("turn on the lights", "en") == "command"
    assert kind_of("is the door locked", "en") == "question"
    assert kind_of("it's too bright in here", "en") == "chat"
    assert kind_of("把灯打开", "zh-cn") == "command"
    assert kind_of("客厅的灯开着吗", "zh-cn") == "question"
