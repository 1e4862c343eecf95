"""Edge model roll-out: the cloud's order on `autoglm/v1/edges/<id>/models` and the edge's answer on `events`.

The order travels in an Envelope (type `model.order`, QoS 1, retained: an edge that was offline gets the latest
order when it reconnects). The envelope's id names the order: an edge that already carried out that id does
nothing when the broker delivers it again. The answer is an uplink event `model.activated` or `model.rejected`
whose payload is a ModelResult.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Envelope type of an order on the models channel.
ORDER_TYPE: Final = "model.order"
#: Uplink event types of the edge's answer.
ACTIVATED_EVENT: Final = "model.activated"
REJECTED_EVENT: Final = "model.rejected"
#: The manifest every version carries (edge.io.intent_model.MANIFEST); checked last, after the files it names.
MANIFEST_FILE: Final = "manifest.json"
#: Version and file names: one path segment, no dots in front (no `..`, no hidden files), no separators.
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
#: Largest file an order may name (the shipped INT8 model is 3 MB).
MAX_FILE_BYTES: Final = 512 * 1024 * 1024


def files_path(version: str) -> str:
    """Path on the cloud's HTTP API under which a version's files are served (`<path>/<name>`)."""
    return f"/v1/edge-models/{version}/files"


class ModelAction(StrEnum):
    """What the order asks."""

    ACTIVATE = "activate"
    ROLLBACK = "rollback"


class ModelFile(BaseModel):
    """One file of a version, as the edge must find it after the download."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0, le=MAX_FILE_BYTES)


class ModelOrder(BaseModel):
    """Activate a version (fetch, verify, load-test, switch) or roll back to the edge's previous one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: ModelAction
    version: str | None = Field(default=None, pattern=NAME_PATTERN, description="activate: the version to run; "
                                "rollback: optional, the version the operator expects to return to")
    files: tuple[ModelFile, ...] = Field(default=(), max_length=32)
    url: str | None = Field(default=None, pattern=r"^/[A-Za-z0-9._/-]*$", max_length=512,
                            description="HTTP path on the cloud (edge.cloud.url) the files are under")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.action is ModelAction.ACTIVATE:
            if self.version is None or self.url is None:
                raise ValueError("activate needs version and url")
            names = [f.name for f in self.files]
            if MANIFEST_FILE not in names:
                raise ValueError(f"activate needs the file list, {MANIFEST_FILE} included")
            if len(set(names)) != len(names):
                raise ValueError("file names must be unique")
        elif self.files or self.url is not None:
            raise ValueError("rollback takes no files or url")
        return self


class ModelResult(BaseModel):
    """The edge's answer to one order (payload of `model.activated` / `model.rejected`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id: str
    action: ModelAction
    version: str | None = Field(description="the version the order asked for (rollback: the one returned to)")
    active: str | None = Field(description="the version serving after the order")
    previous: str | None = Field(default=None, description="the version a rollback would return to")
    changed: bool = Field(default=False, description="false when the version asked for was already active")
    reason: str | None = Field(default=None, description="why the order was rejected")
