"""The tool catalogue: device actions per HA domain plus get_state, wait, notify and condition, with arg schemas."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from cloud.fleet import DOMAIN_ACTIONS, Device
from shared.plan import CONDITION_OPS, REFERENCE, Tool

#: Inclusive ranges of numeric action args; any other "number" arg is a 0-100 percentage.
NUMBER_RANGES: Final[dict[str, tuple[float, float]]] = {"temperature": (5.0, 35.0)}
PERCENT_RANGE: Final = (0.0, 100.0)
WAIT_RANGE: Final = (0, 86_400)
#: Closed vocabularies of string action args (so a grammar can enumerate them).
STRING_ENUMS: Final[dict[str, tuple[str, ...]]] = {
    "hvac_mode": ("off", "heat", "cool", "auto", "heat_cool", "dry", "fan_only"),
    "color_name": ("white", "warm_white", "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink",
                   "magenta"),
}
NOTIFY_MAX_CHARS: Final = 200
#: Longest free string a condition operand may be.
OPERAND_MAX_CHARS: Final = 64
#: Step outputs of tools whose output is fixed; state tools (get_state, device actions) give "value",
#: "attributes" and, by name, any attribute of the device's state.
FIXED_OUTPUTS: Final[dict[str, frozenset[str]]] = {
    Tool.CONDITION.value: frozenset({"value"}),
    Tool.WAIT.value: frozenset(),
    Tool.NOTIFY.value: frozenset(),
}

REFERENCE_SCHEMA: Final[dict[str, Any]] = {"type": "string", "pattern": REFERENCE.pattern}


@dataclass(frozen=True)
class ToolSpec:
    """One tool a plan may call: its name ('light.turn_on', 'wait'), what it does, and its args' JSON schema."""

    name: str
    description: str
    args: dict[str, Any]

    @property
    def domain(self) -> str | None:
        """The HA domain of a device action, None for the generic tools."""
        return self.name.split(".", 1)[0] if "." in self.name else None


def is_device_action(tool: str) -> bool:
    """True for 'domain.service' names of DOMAIN_ACTIONS."""
    domain, _, service = tool.partition(".")
    return service in DOMAIN_ACTIONS.get(domain, {})


def output_fields(tool: str) -> frozenset[str] | None:
    """The output fields a tool's step offers, or None when any state field may be named."""
    return FIXED_OUTPUTS.get(tool)


def arg_schema(name: str, kind: str) -> dict[str, Any]:
    """The JSON schema of one device action arg from its DOMAIN_ACTIONS kind; numbers also accept references."""
    if kind == "number":
        low, high = NUMBER_RANGES.get(name, PERCENT_RANGE)
        return {"anyOf": [{"type": "number", "minimum": low, "maximum": high}, REFERENCE_SCHEMA]}
    if name in STRING_ENUMS:
        return {"type": "string", "enum": list(STRING_ENUMS[name])}
    return {"type": "string", "minLength": 1, "maxLength": OPERAND_MAX_CHARS}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _device_action(domain: str, service: str, arg_kinds: dict[str, str], device_ids: list[str]) -> ToolSpec:
    properties: dict[str, Any] = {"device_id": {"type": "string", "enum": device_ids}}
    properties |= {name: arg_schema(name, kind) for name, kind in arg_kinds.items()}
    # Args of turn_on are optional refinements; every other service needs its args to mean anything.
    required = ["device_id"] + ([] if service == "turn_on" else list(arg_kinds))
    args_text = ", ".join(arg_kinds) or "no args"
    return ToolSpec(f"{domain}.{service}", f"HA service {domain}.{service} on one {domain} ({args_text})",
                    _object(properties, required))


def _generic(device_ids: list[str]) -> list[ToolSpec]:
    operand = {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": OPERAND_MAX_CHARS}, {"type": "boolean"}]}
    tools = [
        ToolSpec(Tool.WAIT.value, "pause the plan for some seconds",
                 _object({"seconds": {"anyOf": [{"type": "integer", "minimum": WAIT_RANGE[0],
                                                 "maximum": WAIT_RANGE[1]}, REFERENCE_SCHEMA]}}, ["seconds"])),
        ToolSpec(Tool.NOTIFY.value, "send a message to the user; '$s1.value' inside it is replaced",
                 _object({"message": {"type": "string", "minLength": 1, "maxLength": NOTIFY_MAX_CHARS}}, ["message"])),
        ToolSpec(Tool.CONDITION.value, "compare two values; when false, the steps after it are skipped",
                 _object({"left": operand, "op": {"type": "string", "enum": list(CONDITION_OPS)}, "right": operand},
                         ["left", "op", "right"])),
    ]
    if device_ids:
        get_state = ToolSpec(Tool.GET_STATE.value, "read a device's state: value and attributes",
                             _object({"device_id": {"type": "string", "enum": device_ids}}, ["device_id"]))
        tools.insert(0, get_state)
    return tools


def tools_for(devices: Sequence[Device]) -> list[ToolSpec]:
    """The catalogue for these devices: each domain's actions (device_id limited to that domain) and generic tools."""
    by_domain: dict[str, list[str]] = {}
    for device in devices:
        ids = by_domain.setdefault(device.domain, [])
        if device.device_id not in ids:
            ids.append(device.device_id)
    tools = _generic(list(dict.fromkeys(d.device_id for d in devices)))
    for domain, services in DOMAIN_ACTIONS.items():
        if domain in by_domain:
            tools += [_device_action(domain, service, kinds, by_domain[domain]) for service, kinds in services.items()]
    return tools


def _describe_arg(name: str, schema: dict[str, Any], required: bool) -> str:
    mark = "" if required else "?"
    options = schema.get("anyOf", [schema])
    if "enum" in schema and name != "device_id":
        return f"{name}{mark}: {'|'.join(map(str, schema['enum']))}"
    number = next((o for o in options if o.get("type") in ("number", "integer") and "minimum" in o), None)
    if number is not None:
        return f"{name}{mark}: {number['minimum']:g}-{number['maximum']:g}"
    return f"{name}{mark}"


def _describe_tool(tool: ToolSpec) -> str:
    props: dict[str, Any] = tool.args["properties"]
    required = set(tool.args["required"])
    # A device action's device_id is implied by the device listed under its domain.
    args = [_describe_arg(name, schema, name in required) for name, schema in props.items()
            if not (tool.domain and name == "device_id")]
    name = tool.name.split(".", 1)[1] if tool.domain else tool.name
    return f"{name}({', '.join(args)})" if args else name


def describe(devices: Sequence[Device]) -> str:
    """A compact listing for prompts: per domain its actions, then its devices (id | name | area); generic tools last.

    Short on purpose (prompt length is most of a batch's attention cost): outputs are implied (a state's "value"
    and "attributes"; a condition's "value") and device actions take the device's id as `device_id`.
    """
    by_domain: dict[str, list[Device]] = {}
    for device in sorted(devices, key=lambda d: d.device_id):
        by_domain.setdefault(device.domain, []).append(device)
    tools = tools_for(devices)
    lines = []
    for domain in sorted(by_domain):
        actions = [_describe_tool(tool) for tool in tools if tool.domain == domain]
        lines.append(f"{domain}: {'; '.join(actions) or 'get_state only'}")
        lines += [f"- {device.device_id} | {device.name} | {device.area or '-'}" for device in by_domain[domain]]
    lines.append("tools: " + "; ".join(_describe_tool(tool) for tool in tools if tool.domain is None))
    return "\n".join(lines)
