"""Intent model roll-out and rollback, ordered by the cloud on `autoglm/v1/edges/<id>/models`.

activate: fetch every file of the version from the cloud over HTTP into `<root>/.tmp-*`, check its size and
sha256 against the order, rename the directory to `<root>/<version>`, load-test it with ONNX Runtime, write
`<root>/active.json` (atomically), then switch the model stage. rollback: load-test the previous version (kept on
disk) and switch back to it. Any failure leaves the running model serving and answers `model.rejected` with the
reason. An order id already carried out (a retained order delivered again) is skipped; an order for the version
already serving changes nothing. At most `keep` downloaded versions stay on disk (the active and the previous one
always among them).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import httpx
from pydantic import BaseModel, Field, SecretStr, ValidationError

from edge.config import CloudSettings
from edge.decision.model_stage import ModelStage
from edge.io.intent_model import read_manifest, sha256
from edge.ports import IntentClassifier
from shared.envelope import new_id
from shared.errors import ModelError
from shared.rollout import ModelAction, ModelFile, ModelOrder, ModelResult

log = logging.getLogger(__name__)

STATE_FILE = "active.json"
#: Order ids remembered, so retained re-deliveries of recent orders are skipped.
REMEMBERED_ORDERS = 32


class Installed(BaseModel):
    """A version and the directory it is loaded from (the configured edge.model_dir for the shipped model)."""

    version: str
    dir: Path


class RolloutState(BaseModel):
    """What `active.json` keeps across restarts."""

    active: Installed | None = None
    previous: Installed | None = None
    orders: list[str] = Field(default_factory=list, description="ids of orders carried out, newest last")


class Fetcher(Protocol):
    """Downloads one file of a version (the cloud's HTTP API in production)."""

    async def fetch(self, url: str, dest: Path, expected: ModelFile) -> None:
        """Write the file at `url` to `dest`; ModelError when it cannot, or its size or sha256 differ."""
        ...


class HttpFetcher:
    """Files from the cloud (`edge.cloud.url`) with this edge's token, streamed to disk and hashed on the way."""

    def __init__(self, base_url: str, token: SecretStr, *, timeout_s: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout_s,
                                       headers={"Authorization": f"Bearer {token.get_secret_value()}"})

    @classmethod
    def for_cloud(cls, cloud: CloudSettings, *, timeout_s: float) -> HttpFetcher | None:
        """A fetcher from the edge's cloud, or None when there is none (roll-outs are then refused)."""
        if cloud.url is None or cloud.token is None:
            return None
        return cls(cloud.url, cloud.token, timeout_s=timeout_s)

    async def fetch(self, url: str, dest: Path, expected: ModelFile) -> None:
        """Stream `url` into `dest`, refusing more bytes than the order names."""
        digest, size = hashlib.sha256(), 0
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise ModelError(f"download of {expected.name} failed: HTTP {response.status_code} from {url}")
                with dest.open("wb") as fh:
                    async for chunk in response.aiter_bytes(1 << 20):
                        size += len(chunk)
                        if size > expected.size:
                            raise ModelError(f"{expected.name} is larger than the {expected.size} bytes ordered")
                        digest.update(chunk)
                        await asyncio.to_thread(fh.write, chunk)
                    await asyncio.to_thread(os.fsync, fh.fileno())
        except httpx.HTTPError as exc:
            raise ModelError(f"download of {expected.name} failed: {type(exc).__name__}: {exc}") from None
        except OSError as exc:
            raise ModelError(f"cannot write {dest}: {exc.strerror or exc}") from None
        if size != expected.size:
            raise ModelError(f"{expected.name} has {size} bytes, the order says {expected.size}")
        if digest.hexdigest() != expected.sha256:
            raise ModelError(f"{expected.name} does not match the sha256 in the order")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


class ModelRollout:
    """Carries out model orders against one model stage; one order at a time."""

    def __init__(self, root: Path, stage: ModelStage, fetcher: Fetcher | None, *, keep: int = 3,
                 on_outcome: Callable[[str, str | None], None] | None = None) -> None:
        self.root = root
        self._stage = stage
        self._fetcher = fetcher
        self._keep = max(keep, 2)
        self._on_outcome = on_outcome
        self._lock = asyncio.Lock()
        self.state = self._read_state()

    async def handle(self, order: ModelOrder, order_id: str) -> ModelResult | None:
        """Carry out one order; None when this order id was carried out before (a re-delivery)."""
        async with self._lock:
            if order_id in self.state.orders:
                log.info("model order already carried out", extra={"order_id": order_id})
                return None
            try:
                if order.action is ModelAction.ACTIVATE:
                    result = await self._activate(order, order_id)
                else:
                    result = await self._rollback(order, order_id)
            except ModelError as exc:
                result = ModelResult(order_id=order_id, action=order.action, version=order.version,
                                     active=self._stage.status().version, previous=self._previous_version(),
                                     reason=str(exc))
            self.state.orders = [*self.state.orders, order_id][-REMEMBERED_ORDERS:]
            with contextlib.suppress(ModelError):  # the state of a rejected order may not reach the disk
                await asyncio.to_thread(self._write_state, self.state)
            outcome = ("rejected" if result.reason else "unchanged" if not result.changed
                       else "rolled_back" if order.action is ModelAction.ROLLBACK else "activated")
            log_fn = log.error if result.reason else log.info
            log_fn("model order %s: %s", outcome, result.reason or result.active,
                   extra={"event": "model_rollout", "order_id": order_id, "action": order.action.value,
                          "version": order.version, "active": result.active})
            if self._on_outcome is not None:
                self._on_outcome(outcome, self._stage.status().version)
            return result

    async def _activate(self, order: ModelOrder, order_id: str) -> ModelResult:
        version = order.version
        assert version is not None and order.url is not None  # ModelOrder's validator
        current = self._stage.status().version
        if current == version:
            return ModelResult(order_id=order_id, action=order.action, version=version, active=current,
                               previous=self._previous_version(), changed=False)
        target = self.root / version
        fresh = not await asyncio.to_thread(_matches, target, order.files)
        if fresh:
            await self._download(order, target)
        try:
            if read_manifest(target).version != version:
                raise ModelError(f"the manifest of {version} names version {read_manifest(target).version}")
            model = await asyncio.to_thread(self._stage.prepare, target)
            await self._switch(model, version)
        except ModelError:
            if fresh:
                await asyncio.to_thread(shutil.rmtree, target, True)
            raise
        await asyncio.to_thread(self._prune)
        return ModelResult(order_id=order_id, action=order.action, version=version, active=version,
                           previous=self._previous_version(), changed=True)

    async def _rollback(self, order: ModelOrder, order_id: str) -> ModelResult:
        previous = self.state.previous
        if previous is None:
            raise ModelError("no previous version to roll back to")
        if order.version is not None and order.version != previous.version:
            raise ModelError(f"the previous version is {previous.version}, not {order.version}")
        model = await asyncio.to_thread(self._stage.prepare, previous.dir)
        await self._switch(model, previous.version)
        return ModelResult(order_id=order_id, action=order.action, version=previous.version, active=previous.version,
                           previous=self._previous_version(), changed=True)

    async def _switch(self, model: IntentClassifier, version: str) -> None:
        """Persist the choice first, then serve it: a state that cannot be written leaves the old model on."""
        if model.version != version:
            raise ModelError(f"the model in {model.model_dir} is version {model.version}, not {version}")
        current, directory = self._stage.status().version, self._stage.directory
        before = Installed(version=current, dir=directory) if current and directory else self.state.active
        state = self.state.model_copy(update={"active": Installed(version=version, dir=model.model_dir),
                                              "previous": before})
        await asyncio.to_thread(self._write_state, state)
        self.state = state
        self._stage.install(model)

    async def _download(self, order: ModelOrder, target: Path) -> None:
        if self._fetcher is None:
            raise ModelError("this edge has no cloud to download from (set edge.cloud.url and edge.cloud.token)")
        tmp = self.root / f".tmp-{order.version}-{new_id()[:8]}"
        try:
            await asyncio.to_thread(tmp.mkdir, parents=True)
            for file in order.files:
                await self._fetcher.fetch(f"{order.url}/{file.name}", tmp / file.name, file)
            await asyncio.to_thread(_replace_dir, tmp, target)
        except OSError as exc:
            raise ModelError(f"cannot store version {order.version} under {self.root}: {exc.strerror or exc}") from None
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp, True)

    def _previous_version(self) -> str | None:
        return self.state.previous.version if self.state.previous else None

    def _prune(self) -> None:
        """Keep at most `keep` downloaded versions: the active, the previous, then the newest others."""
        pinned = {i.dir.resolve() for i in (self.state.active, self.state.previous) if i is not None}
        dirs = [d for d in self.root.iterdir() if d.is_dir() and not d.name.startswith(".")]
        others = sorted((d for d in dirs if d.resolve() not in pinned), key=lambda d: d.stat().st_mtime,
                        reverse=True)
        room = max(self._keep - sum(1 for d in dirs if d.resolve() in pinned), 0)
        for old in others[room:]:
            log.info("removing old model version", extra={"version": old.name})
            shutil.rmtree(old, ignore_errors=True)

    def _read_state(self) -> RolloutState:
        return read_state(self.root)

    def _write_state(self, state: RolloutState) -> None:
        """Write-to-temp, fsync, rename, fsync the directory: a crash leaves the old file or the new one."""
        path = self.root / STATE_FILE
        tmp = path.with_name(f".{STATE_FILE}.tmp")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tmp.open("w") as fh:
                fh.write(json.dumps(state.model_dump(mode="json"), indent=2))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _fsync_dir(self.root)
        except OSError as exc:
            raise ModelError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_state(root: Path) -> RolloutState:
    """`<root>/active.json`, or an empty state when there is none (or it is unreadable: logged)."""
    path = root / STATE_FILE
    try:
        return RolloutState.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return RolloutState()
    except (OSError, ValidationError) as exc:
        log.error("unreadable %s; starting from edge.model_dir: %s", path, str(exc).splitlines()[0])
        return RolloutState()


def active_dir(root: Path) -> Path | None:
    """The directory of the version a roll-out activated, if it is still there (start-up: a restart keeps it)."""
    active = read_state(root).active
    if active is None:
        return None
    if not (active.dir / "manifest.json").is_file():
        log.error("rolled-out model %s is gone from %s; using edge.model_dir", active.version, active.dir)
        return None
    return active.dir


def _matches(directory: Path, files: tuple[ModelFile, ...]) -> bool:
    """True when `directory` already holds exactly these files (a version downloaded before)."""
    try:
        return all((directory / f.name).stat().st_size == f.size and sha256(directory / f.name) == f.sha256
                   for f in files)
    except OSError:
        return False


def _replace_dir(tmp: Path, target: Path) -> None:
    """Move the verified download into place (a damaged copy of the same version goes first)."""
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
