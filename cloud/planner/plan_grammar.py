"""The per-request plan grammar (xgrammar EBNF): only plans that `validate_plan` accepts for an acting caller.

A JSON schema (`schema.plan_schema`) cannot say that step ids are unique, that `after` names earlier steps once
each, or that a "$s1.value" argument has s1 in its `after`; a random model under that schema writes plans that
parse but do not validate. This grammar is a subset of the schema's language that also fixes those rules:

- step k has id "sk"; `after` is an increasing list of earlier ids (so the graph is acyclic, without duplicates);
- a reference is "$s<k-1>.value" only, only in step k, only when step k-1 gives a value (a device action,
  get_state or condition), and then `after` lists s<k-1>;
- free strings hold no "$", quotes, backslashes or control characters, numbers are plain decimals of bounded
  length, so every output is finite (at most `max_steps` steps) and no string hides a reference.
Keys follow the schema's order, with `PLAN_SEPARATORS`, as `schema.plan_to_json` writes plans.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Final

from cloud.fleet import Device
from cloud.planner.catalogue import ToolSpec, output_fields, tools_for
from shared.plan import MAX_STEPS, REFERENCE

#: Fewest steps a locally decoded plan may have; homes with more devices get more (see `steps_for`), so that a scene
#: over every device fits. Validation still allows MAX_STEPS for plans from elsewhere.
DEFAULT_MAX_STEPS: Final = 8
#: Steps beyond one per device (get_state, condition, wait, notify around the actions).
EXTRA_STEPS: Final = 4
#: Characters of a free string: no quote, backslash, "$" (references), control characters or lone surrogates.
_FREE_CHAR: Final = r'[^"\\$\x00-\x1f\uD800-\uDFFF]'
#: An unbounded JSON number in the schema becomes a plain decimal with at most 6 + 3 digits.
_PLAIN_NUMBER: Final = r'"-"? ("0" | [1-9] [0-9]{0,5}) ("." [0-9]{1,3})?'


def literal(text: str) -> str:
    """`text` as an EBNF string literal."""
    return json.dumps(text, ensure_ascii=False)


def json_literal(value: Any) -> str:
    """The JSON encoding of `value` as an EBNF string literal."""
    return literal(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _digits(low: str, high: str) -> list[str]:
    """EBNF sequences matching the decimal strings from `low` to `high` (same length, low <= high)."""
    if len(low) == 1:
        return [literal(low) if low == high else f"[{low}-{high}]"]
    if low[0] == high[0]:
        return [f"{literal(low[0])} {tail}" for tail in _digits(low[1:], high[1:])]
    width = len(low) - 1
    out = [f"{literal(low[0])} {tail}" for tail in _digits(low[1:], "9" * width)]
    if int(low[0]) + 1 <= int(high[0]) - 1:
        out.append(f"[{int(low[0]) + 1}-{int(high[0]) - 1}]" + " [0-9]" * width)
    out += [f"{literal(high[0])} {tail}" for tail in _digits("0" * width, high[1:])]
    return out


def int_range(low: int, high: int) -> str:
    """An EBNF alternation matching exactly the integers low..high written as JSON (0 <= low <= high)."""
    if not 0 <= low <= high:
        raise ValueError(f"int_range needs 0 <= low <= high, got {low}..{high}")
    parts: list[str] = []
    for width in range(len(str(low)), len(str(high)) + 1):
        start, end = max(low, 10 ** (width - 1) if width > 1 else 0), min(high, 10**width - 1)
        if start <= end:
            parts += _digits(str(start), str(end))
    return "(" + " | ".join(parts) + ")"


def _whole(value: Any) -> int:
    if float(value) != int(value) or value < 0:
        raise ValueError(f"plan grammars need whole, non-negative bounds, got {value!r}")
    return int(value)


def _is_reference(schema: dict[str, Any]) -> bool:
    return schema.get("pattern") == REFERENCE.pattern


def _free_string(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" and not {"enum", "const", "pattern"} & schema.keys()


def _may_refer(schema: dict[str, Any]) -> bool:
    """True when a value of `schema` may be a reference: a reference option or a free string."""
    return any(_is_reference(o) or _free_string(o) for o in schema.get("anyOf", [schema]))


def value_rule(schema: dict[str, Any], reference: str | None,
               intern: Callable[[str], str] = lambda body: body) -> str:
    """EBNF for a JSON value of `schema`; where a reference may stand, `reference` (a literal) if given."""
    options = [o for o in schema.get("anyOf", [schema]) if not _is_reference(o)]
    alternatives = [intern(_plain_value(o)) for o in options]
    if reference is not None and _may_refer(schema):
        alternatives.append(reference)
    if not alternatives:
        raise ValueError(f"plan grammars need a value besides a reference for {schema!r}")
    return alternatives[0] if len(alternatives) == 1 else "(" + " | ".join(alternatives) + ")"


def _plain_value(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return value_rule(schema, None)
    if "const" in schema:
        return json_literal(schema["const"])
    if "enum" in schema:
        return "(" + " | ".join(json_literal(v) for v in schema["enum"]) + ")"
    kind = schema.get("type")
    if kind == "string":
        low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 64))
        return f'"\\"" {_FREE_CHAR}{{{low},{high}}} "\\""'
    if kind == "boolean":
        return '("true" | "false")'
    if kind in ("integer", "number") and "minimum" in schema and "maximum" in schema:
        low, high = _whole(schema["minimum"]), _whole(schema["maximum"])
        if kind == "integer" or low == high:
            return int_range(low, high)
        # Decimals below the maximum (at most 3 places, as xgrammar's range rule would allow up to 6), or it.
        return f'({int_range(low, high - 1)} ("." [0-9]{{1,3}})? | {literal(str(high))})'
    if kind in ("integer", "number"):
        return f"({_PLAIN_NUMBER})" if kind == "number" else r'("-"? ("0" | [1-9] [0-9]{0,5}))'
    raise ValueError(f"plan grammars do not cover the schema {schema!r}")


def object_rule(schema: dict[str, Any], reference: str | None,
                intern: Callable[[str], str] = lambda body: body) -> str:
    """EBNF for an object with its properties in declared order; optional ones may be left out.

    `intern` may turn a value's EBNF into the name of a rule holding it, so that big values appear once.
    """
    properties: dict[str, Any] = schema["properties"]
    required = set(schema.get("required", []))
    names = list(properties)
    if not names or names[0] not in required:
        raise ValueError("plan grammars need objects whose first property is required")
    first, *rest = names
    parts = [literal("{" + json.dumps(first) + ":"), value_rule(properties[first], reference, intern)]
    for name in rest:
        part = f"{literal(',' + json.dumps(name) + ':')} {value_rule(properties[name], reference, intern)}"
        parts.append(part if name in required else f"({part})?")
    parts.append(literal("}"))
    return " ".join(parts)


def _takes_reference(schema: dict[str, Any]) -> bool:
    return any(_may_refer(p) for p in schema["properties"].values())


def gives_value(tool: str) -> bool:
    """True when a step of `tool` offers a "value" output a later step may refer to."""
    fields = output_fields(tool)
    return fields is None or "value" in fields


def _id(k: int) -> str:
    return literal(json.dumps(f"s{k}"))


class _Rules:
    """EBNF rules by name, in the order they are first defined."""

    def __init__(self) -> None:
        self.rules: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def add(self, name: str, body: str) -> str:
        self.rules.setdefault(name, body)
        return name

    def intern(self, body: str) -> str:
        """A rule named after its body's place, for bodies worth sharing; short ones stay inline."""
        if len(body) < 48:
            return body
        name = self._names.setdefault(body, f"value_{len(self._names)}")
        return self.add(name, body)

    def text(self) -> str:
        return "".join(f"{name} ::= {body}\n" for name, body in self.rules.items())


def _head(tool: ToolSpec) -> str:
    return literal(json.dumps(tool.name) + ',"args":')


def steps_for(devices: Sequence[Device]) -> int:
    """The step bound of a request's grammar: one per device and a few more, DEFAULT_MAX_STEPS..MAX_STEPS."""
    return min(MAX_STEPS, max(DEFAULT_MAX_STEPS, len(devices) + EXTRA_STEPS))


def plan_grammar(devices: Sequence[Device], *, max_steps: int | None = None) -> str:
    """EBNF whose sentences are plans over `devices` that validate (ids, after, references, args, devices).

    At most `max_steps` steps (default `steps_for(devices)`).
    """
    max_steps = steps_for(devices) if max_steps is None else max_steps
    if not 1 <= max_steps <= MAX_STEPS:
        raise ValueError(f"max_steps must be 1..{MAX_STEPS}, got {max_steps}")
    tools: list[ToolSpec] = tools_for(devices)
    kinds = {out: [(t, tool) for t, tool in enumerate(tools) if gives_value(tool.name) == (out == "v")]
             for out in ("v", "n")}  # "v": steps that give a value a later step may refer to
    g = _Rules()
    g.add("root", literal('{"steps":[') + " step_1_n " + literal("]}"))
    for out, members in kinds.items():  # call_<out>: a tool name and its args, without references
        g.add(f"call_{out}", " | ".join(f"{_head(tool)} " + g.add(f"args_{t}", object_rule(tool.args, None, g.intern))
                                        for t, tool in members))
    key_after = literal(',"after":')
    for k in range(1, max_steps + 1):
        # ids_k: a non-empty increasing list of ids below k; idf_k_m: such a list starting at s<m>.
        for m in range(k - 1, 0, -1):
            later = " | ".join(f"idf_{k}_{j}" for j in range(m + 1, k))
            g.add(f"idf_{k}_{m}", _id(m) + (f' ("," ({later}))?' if later else ""))
        if k > 1:
            g.add(f"ids_{k}", " | ".join(f"idf_{k}_{m}" for m in range(1, k)))
        after = f'"[" ids_{k}? "]"' if k > 1 else literal("[]")
        plain = [f'call_{out} {key_after} {after} "}}" rest_{k}_{out}' for out in kinds]
        opening = literal('{"id":' + json.dumps(f"s{k}") + ',"tool":')
        g.add(f"step_{k}_n", f"{opening} ({' | '.join(plain)})")
        if k > 1:
            # After a step that gives a value: "$s<k-1>.value" may stand for an arg, and then s<k-1> is in after.
            ref = literal(json.dumps(f"$s{k - 1}.value"))
            with_prev = f'"[" (ids_{k - 1} ",")? {_id(k - 1)} "]"' if k > 2 else f'"[" {_id(1)} "]"'
            referring = []
            for out, members in kinds.items():
                calls = [f"{_head(tool)} " + g.add(f"args_{t}_ref_{k}", object_rule(tool.args, ref, g.intern))
                         for t, tool in members if _takes_reference(tool.args)]
                if calls:
                    g.add(f"callref_{k}_{out}", " | ".join(calls))
                    referring.append(f'callref_{k}_{out} {key_after} {with_prev} "}}" rest_{k}_{out}')
            g.add(f"step_{k}_v", f"{opening} ({' | '.join(plain + referring)})")
        for out in kinds:
            g.add(f"rest_{k}_{out}", f'("," step_{k + 1}_{out})?' if k < max_steps else '""')
    return g.text()
