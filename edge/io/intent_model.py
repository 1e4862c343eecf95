"""The distilled intent model at run time: ONNX Runtime + `tokenizers`, no torch."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pydantic import ValidationError
from tokenizers import Tokenizer

from edge.ports import Prediction, SlotSpan
from shared.errors import ModelError
from shared.intent import INTENT_LABELS, MODEL_FORMAT_VERSION, SLOT_LABELS, ModelManifest

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: Execution providers in order of preference; only those this onnxruntime build has are used.
PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def sha256(path: Path) -> str:
    """Hex digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(model_dir: Path) -> ModelManifest:
    """Parse and check a manifest; raises ModelError naming what is wrong."""
    path = model_dir / MANIFEST
    try:
        manifest = ModelManifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ModelError(f"no intent model at {model_dir} ({MANIFEST} is missing)") from None
    except (OSError, ValidationError) as exc:
        raise ModelError(f"unreadable model manifest {path}: {str(exc).splitlines()[0]}") from None
    if manifest.format_version != MODEL_FORMAT_VERSION:
        raise ModelError(f"model {manifest.version} has format {manifest.format_version}; this edge reads "
                         f"format {MODEL_FORMAT_VERSION} (rebuild it with `autoglm intent train`)")
    unknown = [i for i in manifest.intents if i not in INTENT_LABELS]
    if unknown or any(s not in SLOT_LABELS for s in manifest.slot_labels):
        raise ModelError(f"model {manifest.version} has labels this edge does not know: {unknown or 'slots'}")
    return manifest


class IntentModel:
    """A verified model directory loaded into an ONNX Runtime session."""

    def __init__(self, manifest: ModelManifest, session: ort.InferenceSession, tokenizer: Tokenizer,
                 model_dir: Path) -> None:
        self.manifest = manifest
        self.session = session
        self.tokenizer = tokenizer
        self.model_dir = model_dir
        self._intents = list(manifest.intents)
        self._slots = list(manifest.slot_labels)

    @property
    def version(self) -> str:
        """Model version from the manifest."""
        return self.manifest.version

    @classmethod
    def load(cls, model_dir: Path, *, threads: int = 1, providers: tuple[str, ...] | None = None) -> IntentModel:
        """Verify every file's sha256 against the manifest, then open the session."""
        manifest = read_manifest(model_dir)
        for name in (manifest.model_file, manifest.tokenizer_file):
            if name not in manifest.files:
                raise ModelError(f"manifest of {manifest.version} does not list {name}")
        for name, expected in manifest.files.items():
            path = model_dir / name
            if not path.is_file():
                raise ModelError(f"model file {path} is missing")
            if sha256(path) != expected:
                raise ModelError(f"model file {path} does not match its sha256 in the manifest "
                                 "(truncated or replaced?)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        available = set(ort.get_available_providers())
        chosen = [p for p in (providers or PREFERRED_PROVIDERS) if p in available] or ["CPUExecutionProvider"]
        try:
            session = ort.InferenceSession(str(model_dir / manifest.model_file), options, providers=chosen)
            tokenizer = Tokenizer.from_file(str(model_dir / manifest.tokenizer_file))
        except Exception as exc:  # onnxruntime and tokenizers raise their own types; convert once, here
            raise ModelError(f"cannot load model {manifest.version}: {str(exc).splitlines()[0]}") from None
        tokenizer.no_padding()
        tokenizer.enable_truncation(manifest.max_length)
        outputs = {o.name for o in session.get_outputs()}
        if not {"intent_logits", "slot_logits"} <= outputs:
            raise ModelError(f"model {manifest.version} lacks intent_logits/slot_logits outputs (has {outputs})")
        log.info("intent model loaded", extra={"version": manifest.version, "providers": chosen})
        return cls(manifest, session, tokenizer, model_dir)

    def predict(self, text: str) -> Prediction:
        """Intent with calibrated confidence, and BIO slot spans mapped back to characters."""
        encoding = self.tokenizer.encode(text)
        ids = np.asarray([encoding.ids], dtype=np.int64)
        mask = np.asarray([encoding.attention_mask], dtype=np.int64)
        intent_logits, slot_logits = self.session.run(
            ["intent_logits", "slot_logits"], {"input_ids": ids, "attention_mask": mask})
        scaled = intent_logits[0] / self.manifest.temperature
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        best = int(probs.argmax())
        tags = [self._slots[i] for i in slot_logits[0].argmax(-1)]
        return Prediction(self._intents[best], float(probs[best]), decode_spans(text, tags, encoding.offsets))

    def threshold(self, high_risk: bool) -> float:
        """Confidence a prediction needs before the edge acts on it."""
        t = self.manifest.thresholds
        return t.high_risk if high_risk else t.default


def decode_spans(text: str, tags: list[str], offsets: list[tuple[int, int]]) -> tuple[SlotSpan, ...]:
    """B-/I- tags over tokens -> character spans; an I- without its B- starts a span."""
    spans: list[SlotSpan] = []
    current: tuple[str, int, int] | None = None
    for tag, (start, end) in zip(tags, offsets, strict=False):
        if start == end:  # special tokens
            continue
        kind, _, slot = tag.partition("-")
        if kind == "I" and current is not None and current[0] == slot:
            current = (slot, current[1], end)
            continue
        if current is not None:
            spans.append(SlotSpan(current[0], current[1], current[2], text[current[1]:current[2]]))
            current = None
        if kind in ("B", "I"):
            current = (slot, start, end)
    if current is not None:
        spans.append(SlotSpan(current[0], current[1], current[2], text[current[1]:current[2]]))
    return tuple(s for s in spans if s.text.strip())


def load_intent_model(model_dir: Path, threads: int = 1) -> IntentModel:
    """Load a model directory for serving (the ModelStage's loader)."""
    return IntentModel.load(model_dir, threads=threads)
