"""Decode raw wire bytes into contract models, turning every failure into a typed PayloadError."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
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


def _finite_float(text: str) -> float:
    # json.loads turns an overflowing literal such as 1e400 into inf, bypassing the NaN/Infinity check.
    value = float(text)
    if not math.isfinite(value):
        raise PayloadError(f"number {text} is out of range")
    return value


def _depth(value: Any, limit: int) -> int:
    # Depth counts containers only: `[[1]]` is 2 levels deep, like Python's and json's own nesting.
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(raw: bytes | str, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> Any:
    """Parse a JSON payload with size, encoding, depth and NaN checks."""
    try:
        size = len(raw.encode() if isinstance(raw, str) else raw)
    except UnicodeEncodeError as exc:
        raise PayloadError(f"payload is not valid Unicode (character {exc.start})") from None
    if size > max_bytes:
        raise PayloadTooLargeError(f"payload is {size} bytes, the limit is {max_bytes}")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"payload is not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise PayloadError(f"payload is not JSON ({exc.msg} at {where})") from None
    except ValueError as exc:  # e.g. an integer longer than Python's int_max_str_digits
        raise PayloadError(f"payload is not JSON ({exc})") from None
    except RecursionError:
        raise PayloadError(f"payload nests deeper than {MAX_DEPTH} levels") from None
    if _depth(value, MAX_DEPTH) > MAX_DEPTH:
        raise PayloadError(f"payload nests deeper than {MAX_DEPTH} levels")
    return value


def _field_path(loc: tuple[int | str, ...], data: Any) -> str:
    # pydantic puts union member tags ('list[str]', 'str') into loc; they index nothing in the input,
    # so walk the input alongside loc and drop the parts that cannot be places in it.
    parts: list[str] = []
    for part in loc:
        if isinstance(data, dict) and isinstance(part, str):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int):
            data = data[part] if 0 <= part < len(data) else None
        elif data is None or isinstance(data, str | int | float | list):
            continue
        parts.append(str(part))
    return ".".join(parts) or "<root>"


def _payload_error(exc: ValidationError, data: Any, model: type[BaseModel], name: str | None = None) -> PayloadError:
    """The first problem of a validation error, naming its field (`name` when the error has no location)."""
    first = exc.errors()[0]
    field = _field_path(first["loc"], data) if first["loc"] or name is None else name
    return PayloadError(first["msg"], field=field, model=model.__name__)


def validate(model: type[M], data: Any) -> M:
    """Validate already-parsed data against a model; the error names the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _payload_error(exc, data, model) from None


def validate_fields(model: type[BaseModel], data: Mapping[str, Any]) -> None:
    """Check each present field of a partial message against `model`'s type and bounds; absent fields are fine.

    For state messages that may carry any subset of a model's fields: a wrong type or an out-of-range value is a
    PayloadError naming the field, while the values themselves are kept as the device sent them.
    """
    for name, value in data.items():
        try:
            model.__pydantic_validator__.validate_assignment(model.model_construct(), name, value)
        except ValidationError as exc:
            raise _payload_error(exc, data, model, name) from None


def decode(model: type[M], raw: bytes | str, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> M:
    """Parse and validate a JSON payload into `model`."""
    return validate(model, parse_json(raw, max_bytes=max_bytes))


def encode(value: BaseModel | dict[str, Any]) -> bytes:
    """Serialise a model or plain dict to compact UTF-8 JSON."""
    if isinstance(value, BaseModel):
        return value.model_dump_json(exclude_none=True, by_alias=True).encode()
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def finite(value: float) -> float:
    """Reject NaN and infinities, which JSON cannot carry."""
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value
