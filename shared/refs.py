"""Argument references to earlier steps' outputs: "$s1.value" as a whole arg, or inside a notify message."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from shared.errors import PlanValidationError
from shared.plan import REFERENCE, Tool

#: A reference inside free text ("It is $s1.value degrees"); only notify messages are searched this way.
INLINE_REFERENCE: Final = re.compile(r"\$(s[0-9]{1,2})\.([a-z_]{1,32})")
#: Args whose text may embed references rather than be one.
INLINE_ARGS: Final = frozenset({(Tool.NOTIFY.value, "message")})


@dataclass(frozen=True, slots=True)
class Reference:
    """One "$<step>.<field>" reference."""

    step: str
    field: str

    def __str__(self) -> str:
        return f"${self.step}.{self.field}"


def references(tool: str, args: Mapping[str, Any]) -> list[tuple[str, Reference]]:
    """The (arg name, reference) pairs a step's args contain."""
    found: list[tuple[str, Reference]] = []
    for name, value in args.items():
        if not isinstance(value, str):
            continue
        if (tool, name) in INLINE_ARGS:
            found += [(name, Reference(m.group(1), m.group(2))) for m in INLINE_REFERENCE.finditer(value)]
        elif (match := REFERENCE.match(value)) is not None:
            found.append((name, Reference(match.group(1), match.group(2))))
    return found


def state_output(state: Mapping[str, Any]) -> dict[str, Any]:
    """A device state as a step output: the main state as "value", everything else as "attributes"."""
    main = next((key for key in ("state", "value", "hvac_mode") if key in state), None)
    attributes = {key: value for key, value in state.items() if key != main}
    return {"value": state[main] if main is not None else None, "attributes": attributes}


def lookup(outputs: Mapping[str, Mapping[str, Any]], ref: Reference) -> Any:
    """The value a reference names: an output field, else an attribute of a state output."""
    output = outputs.get(ref.step)
    if output is None:
        raise PlanValidationError(f"{ref} names step {ref.step}, which has no output", step=ref.step)
    if ref.field in output:
        return output[ref.field]
    attributes = output.get("attributes")
    if isinstance(attributes, Mapping) and ref.field in attributes:
        return attributes[ref.field]
    raise PlanValidationError(f"{ref}: step {ref.step} has no output field {ref.field!r}", step=ref.step)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def resolve(tool: str, args: Mapping[str, Any], outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The args with every reference replaced by the value it names (text substitution inside notify messages)."""
    resolved: dict[str, Any] = {}
    for name, value in args.items():
        if not isinstance(value, str):
            resolved[name] = value
        elif (tool, name) in INLINE_ARGS:
            resolved[name] = INLINE_REFERENCE.sub(
                lambda m: _text(lookup(outputs, Reference(m.group(1), m.group(2)))), value
            )
        elif (match := REFERENCE.match(value)) is not None:
            resolved[name] = lookup(outputs, Reference(match.group(1), match.group(2)))
        else:
            resolved[name] = value
    return resolved
