"""A checker for the JSON Schema subset the plan schemas use, as strict as xgrammar's grammar for it.

Two limits of xgrammar 0.2.8 are kept here so that whatever passes also decodes under the grammar: a number
with `minimum`/`maximum` is written without exponent and with at most 6 decimals, and a string with
`minLength`/`maxLength` holds no character JSON must escape (quote, backslash, control characters).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

#: How a ranged number must look as JSON (xgrammar's range regex: no exponent, at most 6 decimals).
RANGED_NUMBER: Final = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]{1,6})?$")
#: Characters a bounded string may not hold: those JSON escapes, and lone surrogates.
NEEDS_ESCAPE: Final = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        # Integers only as JSON writes them: 5, never 5.0, so whatever passes here also passes the grammar.
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return not isinstance(value, float) or math.isfinite(value)
    return isinstance(value, _TYPES[name])


def check(value: Any, schema: dict[str, Any], path: str = "") -> str | None:
    """The first way `value` breaks `schema` as a message naming the path, or None when it conforms."""
    where = path or "value"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            errors = [check(value, option, path) for option in schema[key]]
            if all(errors):
                return errors[0] if len(errors) == 1 else f"{where}: matches none of the allowed forms ({errors[0]})"
    if "const" in schema and value != schema["const"]:
        return f"{where}: must be {schema['const']!r}"
    if "enum" in schema and not any(value == option and type(value) is type(option) for option in schema["enum"]):
        shown = ", ".join(map(repr, schema["enum"][:8])) + (", ..." if len(schema["enum"]) > 8 else "")
        return f"{where}: {value!r} is not one of {shown}"
    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        if not any(_is_type(value, k) for k in kinds):
            return f"{where}: expected {' or '.join(kinds)}, got {type(value).__name__}"
    if _is_type(value, "number"):
        return _check_number(value, schema, where)
    if isinstance(value, str):
        return _check_string(value, schema, where)
    if isinstance(value, list):
        return _check_array(value, schema, path, where)
    if isinstance(value, dict):
        return _check_object(value, schema, path, where)
    return None


def _check_number(value: float, schema: dict[str, Any], where: str) -> str | None:
    if ("minimum" in schema or "maximum" in schema) and not RANGED_NUMBER.match(json.dumps(value)):
        return f"{where}: {value!r} needs plain decimal notation with at most 6 decimals"
    if "minimum" in schema and value < schema["minimum"]:
        return f"{where}: {value} is below the minimum {schema['minimum']}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"{where}: {value} is above the maximum {schema['maximum']}"
    return None


def _check_string(value: str, schema: dict[str, Any], where: str) -> str | None:
    if ("minLength" in schema or "maxLength" in schema) and (bad := NEEDS_ESCAPE.search(value)):
        return f"{where}: may not contain {bad.group()!r} (quotes, backslashes, control characters)"
    if len(value) < schema.get("minLength", 0):
        return f"{where}: shorter than {schema['minLength']} characters"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return f"{where}: longer than {schema['maxLength']} characters"
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        return f"{where}: {value!r} does not match {schema['pattern']}"
    return None


def _check_array(value: list[Any], schema: dict[str, Any], path: str, where: str) -> str | None:
    if len(value) < schema.get("minItems", 0):
        return f"{where}: needs at least {schema['minItems']} items"
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        return f"{where}: has more than {schema['maxItems']} items"
    if "items" in schema:
        for index, item in enumerate(value):
            error = check(item, schema["items"], f"{path}[{index}]")
            if error:
                return error
    return None


def _check_object(value: dict[str, Any], schema: dict[str, Any], path: str, where: str) -> str | None:
    properties: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            return f"{where}: missing {name!r}"
    for name, item in value.items():
        if name in properties:
            error = check(item, properties[name], f"{path}.{name}" if path else name)
            if error:
                return error
        elif schema.get("additionalProperties", True) is False:
            return f"{where}: unexpected {name!r}"
    return None
