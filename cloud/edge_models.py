"""Edge intent model versions the cloud offers for roll-out, and the MQTT publisher of roll-out orders.

A version is a directory `<edge_models_dir>/<version>/` holding what `autoglm intent train` writes
(manifest.json, the ONNX model, the tokenizer). It is offered only when its manifest parses, names the same
version as the directory, and every file it lists is there with the sha256 the manifest gives.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cloud.bus import CloudBus
from shared.codec import encode
from shared.envelope import Envelope
from shared.errors import NotFoundError
from shared.intent import ModelManifest
from shared.rollout import MANIFEST_FILE, NAME_PATTERN, ModelFile
from shared.topics import EdgeChannel, edge_topic

log = logging.getLogger(__name__)

_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class EdgeModelVersion:
    """One offered version: its manifest and the files an edge fetches (manifest.json included)."""

    version: str
    directory: Path
    manifest: dict[str, Any]
    files: tuple[ModelFile, ...]


class EdgeModelCatalog:
    """The versions under one directory (read from disk on every call: operators copy versions in by hand)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def versions(self) -> list[EdgeModelVersion]:
        """Every valid version, by name; invalid ones are logged and left out."""
        if not self.root.is_dir():
            return []
        found = []
        for directory in sorted(self.root.iterdir()):
            if directory.is_dir() and _NAME.match(directory.name):
                try:
                    found.append(self._read(directory))
                except NotFoundError as exc:
                    log.warning("edge model version not offered: %s", exc)
        return found

    def get(self, version: str) -> EdgeModelVersion:
        """One version; NotFoundError when it is not there or not valid."""
        directory = self.root / version
        if not _NAME.match(version) or not directory.is_dir():
            raise NotFoundError(f"edge model version {version!r} not found in {self.root}")
        return self._read(directory)

    def file(self, version: str, name: str) -> Path:
        """Path of one file of a version; only the files the version lists (no other path is reachable)."""
        found = self.get(version)
        if name not in {f.name for f in found.files}:
            raise NotFoundError(f"edge model version {version!r} has no file {name!r}")
        return found.directory / name

    def _read(self, directory: Path) -> EdgeModelVersion:
        try:
            manifest = ModelManifest.model_validate_json((directory / MANIFEST_FILE).read_bytes())
        except (OSError, ValidationError) as exc:
            raise NotFoundError(f"{directory}: unreadable {MANIFEST_FILE} ({str(exc).splitlines()[0]})") from None
        if manifest.version != directory.name:
            raise NotFoundError(f"{directory}: its manifest names version {manifest.version!r}")
        files = [_describe(directory, MANIFEST_FILE)]
        for name, expected in sorted(manifest.files.items()):
            if not _NAME.match(name):
                raise NotFoundError(f"{directory}: file name {name!r} is not allowed")
            described = _describe(directory, name)
            if described.sha256 != expected:
                raise NotFoundError(f"{directory / name} does not match its sha256 in the manifest")
            files.append(described)
        return EdgeModelVersion(directory.name, directory, manifest.model_dump(mode="json"), tuple(files))


def sha256(path: Path) -> str:
    """Hex sha256 of a file (the cloud's one copy; the edge keeps its own in edge.io.intent_model)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _describe(directory: Path, name: str) -> ModelFile:
    path = directory / name
    try:
        digest = sha256(path)
        size = path.stat().st_size
    except OSError as exc:
        raise NotFoundError(f"{path}: {exc.strerror or exc}") from None
    return ModelFile(name=name, sha256=digest, size=size)


class MqttModelOrders:
    """cloud.edge_link.ModelOrderPublisher on the cloud's broker connection: QoS 1, retained."""

    def __init__(self, bus: CloudBus) -> None:
        self._bus = bus

    async def publish_order(self, edge_id: str, envelope: Envelope) -> None:
        """Replace the edge's retained order; TransportError when the broker does not take it."""
        await self._bus.publish(edge_topic(edge_id, EdgeChannel.MODELS), encode(envelope), qos=1, retain=True)
