"""Decode raw wire bytes into contract models, turning every failure into a typed PayloadError."""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.errors import PayloadError, PayloadTooLargeError

M = TypeVar("M", bound=BaseModel)

#: Upper bound on any JSON payload the project accepts from the wire (devices send a few hundred bytes).
MAX_PAYLOAD_BYTES = 256 * 1024
#: Deeper nesting than this is never a legitimate device or edge message.
MAX_DEPTH = 32


def _reject_constant(name: str) -> Any:
    raise PayloadError(f"{name} is not allowed in JSON payloads")


def _depth(value: Any, limit: int) -> int:
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def parse_json(raw: bytes | str, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> Any:
    """Parse a JSON payload with size, encoding, depth and NaN checks."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise PayloadTooLargeError(f"payload is {size} bytes, the limit is {max_bytes}")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"payload is not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"payload is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise PayloadError(f"payload nests deeper than {MAX_DEPTH} levels") from None
    if _depth(value, MAX_DEPTH) > MAX_DEPTH:
        raise PayloadError(f"payload nests deeper than {MAX_DEPTH} levels")
    return value


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def validate(model: type[M], data: Any) -> M:
    """Validate already-parsed data against a model; the error names the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PayloadError(first["msg"], field=_field_path(first["loc"]), model=model.__name__) from None


def decode(model: type[M], raw: bytes | str, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> M:
    """Parse and validate a JSON payload into `model`."""
    return validate(model, parse_json(raw, max_bytes=max_bytes))


def encode(value: BaseModel | dict[str, Any]) -> bytes:
    """Serialise a model or plain dict to compact UTF-8 JSON."""
    if isinstance(value, BaseModel):
        return value.model_dump_json(exclude_none=True).encode()
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def finite(value: float) -> float:
    """Reject NaN and infinities, which JSON cannot carry."""
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value
