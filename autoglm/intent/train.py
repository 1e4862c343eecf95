"""`build()`: data -> teacher -> distilled student -> calibration -> INT8 ONNX -> a model directory.

The shipped directory holds manifest.json, model.int8.onnx and tokenizer.json only. The build
directory (default `<out_dir>-build/` next to it) keeps the student's torch checkpoint
(`student/`, save_pretrained + tokenizer.json), model.fp32.onnx and the teacher's logits for
benchmarks and debugging.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import torch

from autoglm.intent.calibrate import calibrate
from autoglm.intent.distill import FitConfig, evaluate, fit, predict, slot_f1
from autoglm.intent.export import OnnxIntentModel, export_onnx, fuse_transformer, latency_ms, quantize_int8
from autoglm.intent.model import IntentSlotModel, student_config
from autoglm.intent.teacher import train_teacher
from autoglm.intent.tokenizer import Encoded, encode_examples, train_tokenizer
from edge.io.intent_model import sha256 as sha256_file  # the edge verifies with the same function
from shared.intent import INTENT_LABELS, MODEL_FORMAT_VERSION, SLOT_LABELS, Example, ModelManifest

log = logging.getLogger(__name__)

MODEL_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class Profile:
    """Everything a build varies: tokenizer, student size, the two training runs, threads."""

    name: str
    teacher: FitConfig
    student: FitConfig
    vocab_size: int = 8000
    max_length: int = 48
    layers: int = 4
    # 4 x 192 (FFN 768): INT8 p50 ~0.7 ms on one AVX2 core; 4 x 256 (FFN 1024) measured ~1.0-1.2 ms.
    hidden: int = 192
    heads: int = 4
    intermediate: int = 768
    threads: int = 2
    quantize_arch: str = "avx2"
    benchmark: bool = True


PROFILES: dict[str, Profile] = {
    # Smoke test of the whole pipeline: minutes on 2 cores for ~5k examples.
    "ci": Profile(
        name="ci",
        teacher=FitConfig(epochs=1, batch_size=32, lr=2e-4, head_lr=2e-3, max_examples=3000),
        student=FitConfig(epochs=3, batch_size=32, lr=1e-3, unk_dropout=0.05, max_examples=5000),
    ),
    # The shipped model: about 45 minutes on 2 cores (the student sees every training example, 5 epochs).
    "full": Profile(
        name="full",
        teacher=FitConfig(epochs=1, batch_size=32, lr=1e-4, head_lr=2e-3, max_examples=32000),
        student=FitConfig(epochs=5, batch_size=32, lr=8e-4, unk_dropout=0.05, max_examples=None),
    ),
}


def load_examples(path: Path) -> list[Example]:
    """Examples of one split (JSON lines of shared.intent.Example)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: generate the data set first")
    with path.open(encoding="utf-8") as f:
        return [Example.model_validate_json(line) for line in f if line.strip()]


def data_hash(data_dir: Path) -> str:
    """The data card's data_hash, else the sha256 of train.jsonl + calib.jsonl."""
    card = data_dir / "data_card.json"
    if card.is_file():
        return str(json.loads(card.read_text(encoding="utf-8"))["data_hash"])
    digest = hashlib.sha256()
    for name in ("train.jsonl", "calib.jsonl"):
        digest.update((data_dir / name).read_bytes())
    return digest.hexdigest()


def _by_language(data: Encoded, examples: Sequence[Example], logits: torch.Tensor, prefix: str) -> dict[str, float]:
    out = {}
    for language in sorted({ex.language for ex in examples}):
        rows = torch.tensor([i for i, ex in enumerate(examples) if ex.language == language])
        hits = logits[rows].argmax(dim=-1) == torch.tensor(data.intents)[rows]
        out[f"{prefix}_intent_acc_{language}"] = float(hits.float().mean())
    return out


def _subsample(examples: list[Example], n: int | None, seed: int) -> list[Example]:
    """At most n examples, a seeded random subset in the original order."""
    if n is None or n >= len(examples):
        return examples
    keep = sorted(random.Random(seed).sample(range(len(examples)), n))
    return [examples[i] for i in keep]


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def _check_out_dir(out_dir: Path) -> None:
    """Only an empty directory or an old model directory (with a manifest) may be replaced."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MANIFEST_FILE).exists():
        raise FileExistsError(f"{out_dir} exists and is not a model directory: pick another output directory")


def _replace_dir(staging: Path, out_dir: Path) -> None:
    """Move the finished staging directory into place."""
    _check_out_dir(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)


def build(
    data_dir: Path,
    out_dir: Path,
    *,
    profile: str | Profile = "full",
    seed: int = 0,
    progress: bool = True,
    build_dir: Path | None = None,
) -> ModelManifest:
    """Train teacher and student on data_dir, calibrate, export INT8 ONNX into out_dir; returns the manifest."""
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    _check_out_dir(out_dir)
    build_dir = build_dir or out_dir.parent / f"{out_dir.name}-build"
    staging = out_dir.parent / f".{out_dir.name}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    build_dir.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(prof.threads)
    try:
        return _build(data_dir, out_dir, staging, build_dir, prof, seed, progress)
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(staging, ignore_errors=True)


def _build(
    data_dir: Path, out_dir: Path, staging: Path, build_dir: Path, prof: Profile, seed: int, progress: bool
) -> ModelManifest:
    started = time.perf_counter()
    train, calib = load_examples(data_dir / "train.jsonl"), load_examples(data_dir / "calib.jsonl")
    unknown = {ex.intent for ex in (*train, *calib)} - set(INTENT_LABELS)
    if unknown:
        raise ValueError(f"unknown intent labels in {data_dir}: {sorted(unknown)}")
    log.info("build %s: %d train, %d calib examples", prof.name, len(train), len(calib))
    metrics: dict[str, float | int | str] = {
        "profile": prof.name, "seed": seed, "n_train": len(train), "n_calib": len(calib),
    }

    # The student's rows are chosen first so the teacher only labels those.
    student_rows = _subsample(train, prof.student.max_examples, seed)
    student_cfg = replace(prof.student, max_examples=None)
    metrics["n_student_train"] = len(student_rows)
    metrics["n_teacher_train"] = min(len(train), prof.teacher.max_examples or len(train))

    _seed_everything(seed)
    teacher, teacher_tok = train_teacher(train, prof.teacher, max_length=prof.max_length, seed=seed, progress=progress)
    t_train, t_calib = encode_examples(teacher_tok, student_rows), encode_examples(teacher_tok, calib)
    teacher_logits, _ = predict(teacher, t_train)  # [N_train, C]
    teacher_metrics = evaluate(teacher, t_calib)
    torch.save(teacher_logits, build_dir / "teacher_logits.pt")
    del teacher
    metrics |= {"teacher_intent_acc": teacher_metrics["intent_acc"], "teacher_slot_f1": teacher_metrics["slot_f1"]}
    metrics["teacher_seconds"] = round(time.perf_counter() - started, 1)

    _seed_everything(seed)
    tok = train_tokenizer([ex.text for ex in train], vocab_size=prof.vocab_size, max_length=prof.max_length)
    s_train, s_calib = encode_examples(tok, student_rows), encode_examples(tok, calib)
    config = student_config(
        tok.get_vocab_size(), layers=prof.layers, hidden=prof.hidden, heads=prof.heads,
        intermediate=prof.intermediate, max_positions=max(64, prof.max_length),
    )
    student = IntentSlotModel(config)
    fit(student, s_train, student_cfg, teacher_logits=teacher_logits, seed=seed, progress=progress, desc="student")
    calib_logits, calib_slots = predict(student, s_calib)
    calib_labels = torch.tensor(s_calib.intents)
    metrics["student_intent_acc"] = float((calib_logits.argmax(-1) == calib_labels).float().mean())
    metrics["student_slot_f1"] = slot_f1(s_calib, calib_slots)
    metrics |= _by_language(s_calib, calib, calib_logits, "student")
    metrics["student_seconds"] = round(time.perf_counter() - started - float(metrics["teacher_seconds"]), 1)

    cal = calibrate(calib_logits, calib_labels)
    metrics |= cal.metrics

    checkpoint = build_dir / "student"
    student.save_pretrained(checkpoint)
    tok.save(str(checkpoint / TOKENIZER_FILE))
    fp32 = export_onnx(student, build_dir / "model.fp32.onnx")
    fused = fuse_transformer(fp32, build_dir / "model.fused.onnx", heads=prof.heads, hidden=prof.hidden)
    int8 = quantize_int8(fused, staging / MODEL_FILE, config=student.config, arch=prof.quantize_arch)
    tok.save(str(staging / TOKENIZER_FILE))
    int8_logits, int8_slots = predict(OnnxIntentModel(int8, threads=prof.threads), s_calib)
    metrics["int8_agreement"] = float((int8_logits.argmax(-1) == calib_logits.argmax(-1)).float().mean())
    metrics["int8_intent_acc"] = float((int8_logits.argmax(-1) == calib_labels).float().mean())
    metrics["int8_slot_f1"] = slot_f1(s_calib, int8_slots)
    metrics["model_bytes"] = int8.stat().st_size
    metrics["fp32_bytes"] = fp32.stat().st_size
    if prof.benchmark:
        metrics["int8_latency_ms_p50_16tok_1thread"] = round(latency_ms(int8, tokens=16, threads=1)["p50"], 3)
    metrics["train_seconds"] = round(time.perf_counter() - started, 1)

    files = {p.name: sha256_file(p) for p in sorted(staging.iterdir()) if p.is_file()}
    now = datetime.now(UTC)
    manifest = ModelManifest(
        format_version=MODEL_FORMAT_VERSION,
        version=f"intent-{now:%Y%m%d}-{files[MODEL_FILE][:8]}",
        created=now,
        languages=sorted({ex.language for ex in train}),
        intents=list(INTENT_LABELS),
        slot_labels=list(SLOT_LABELS),
        model_file=MODEL_FILE,
        tokenizer_file=TOKENIZER_FILE,
        max_length=prof.max_length,
        temperature=cal.temperature,
        thresholds=cal.thresholds,
        data_hash=data_hash(data_dir),
        files=files,
        metrics=metrics,
    )
    (staging / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    _replace_dir(staging, out_dir)
    log.info("model %s written to %s: %s", manifest.version, out_dir, metrics)
    return manifest


def with_overrides(profile: str | Profile, **changes: object) -> Profile:
    """A copy of a profile with some fields replaced (`teacher=` / `student=` take FitConfigs)."""
    base = PROFILES[profile] if isinstance(profile, str) else profile
    return replace(base, **changes)  # type: ignore[arg-type]
