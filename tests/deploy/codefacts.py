"""What the code really exposes: metric series, HTTP routes, settings, ports and CLI commands."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

import typer.main
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

#: Series names Prometheus sees for one metric family of each type (prometheus-client's exposition).
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("_count", "_sum", "_created"), "gauge": ("",), "info": ("_info",)}


@dataclass(frozen=True)
class Facts:
    """The code's surface, for the cross-check."""

    families: frozenset[str]  # metric family names, e.g. autoglm_edge_decisions
    series: frozenset[str]  # what PromQL can name, e.g. autoglm_edge_decisions_total
    edge_paths: frozenset[str]
    cloud_paths: frozenset[str]
    default_ports: dict[int, str]  # port -> the setting whose default it is


def _families(registry: CollectorRegistry) -> dict[str, str]:
    return {m.name: m.type for m in registry.collect()}


@cache
def facts() -> Facts:
    """Registries built as the daemons build them (no model loaded), and the apps' routes."""
    from cloud.app import create_app as cloud_app
    from cloud.bus import BusSettings
    from cloud.metrics import CloudMetrics
    from cloud.planner.backend import local_engine
    from cloud.settings import CloudSettings, PlannerSettings
    from edge.config import HttpSettings, MqttSettings
    from edge.io.http import create_app as edge_app
    from edge.io.metrics import EdgeMetrics

    edge, cloud = EdgeMetrics(), CloudMetrics()
    local_engine(PlannerSettings(lazy_load=True), registry=cloud.registry)  # the planner's metrics, as serve does
    families = _families(edge.registry) | _families(cloud.registry)
    series = {name + suffix for name, kind in families.items() for suffix in SUFFIXES[kind]}
    edge_paths, cloud_paths = _paths(edge_app(edge, readiness=dict, devices=list)), _paths(cloud_app(CloudSettings()))
    ports = {HttpSettings().port: "edge.http.port", CloudSettings().port: "cloud.port",
             MqttSettings().port: "edge.mqtt.port", BusSettings().port: "cloud.mqtt.port"}
    return Facts(frozenset(families), frozenset(series), edge_paths, cloud_paths, ports)


def _paths(app: Any) -> frozenset[str]:
    """Every route's path: the OpenAPI document's, and the routes outside it (docs, openapi.json)."""
    return frozenset(app.openapi()["paths"]) | {str(r.path) for r in app.routes if getattr(r, "path", None)}


# Settings


def _model_of(annotation: Any) -> type[BaseModel] | str | None:
    """The pydantic model a field holds (through Optional), "dict" for a mapping, else None (a leaf)."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    for arg in args:
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        if arg is dict or typing.get_origin(arg) is dict:
            return "dict"
    return None


def resolve_setting(model: type[BaseModel], parts: list[str], *, skip: frozenset[str] = frozenset()) -> str | None:
    """None when `parts` is a field path of `model` (or of a nested model); else what is wrong."""
    current: type[BaseModel] | str | None = model
    for i, part in enumerate(parts):
        if current == "dict":
            return None  # free-form keys (aliases)
        if not isinstance(current, type):
            return f"{'.'.join(parts[:i])} is a value, not a table"
        field = current.model_fields.get(part)
        if field is None or (i == 0 and part in skip):
            return f"{current.__name__} has no field {part!r}"
        current = _model_of(field.annotation)
    return None


def _roots() -> dict[str, tuple[type[BaseModel], frozenset[str]]]:
    from cloud.settings import CloudSettings, PlannerSettings
    from edge.config import EdgeSettings

    # cloud.planner is read from [planner] / OPEN_AUTOGLM_PLANNER__*, never from OPEN_AUTOGLM_CLOUD__PLANNER__*
    return {"edge": (EdgeSettings, frozenset()), "cloud": (CloudSettings, frozenset({"planner"})),
            "planner": (PlannerSettings, frozenset())}


def check_env_name(name: str) -> str | None:
    """None when OPEN_AUTOGLM_<...> is a variable the settings read (`FOO__` alone names a table)."""
    from cloud.settings import LAZY_LOAD_ENV
    from tests.deploy.deploy_env import cli_env_vars

    if name == LAZY_LOAD_ENV or name in cli_env_vars():
        return None
    rest = name.removeprefix("OPEN_AUTOGLM_")
    root, sep, tail = rest.partition("__")
    roots = _roots()
    if root.lower() not in roots or (not sep and name != f"OPEN_AUTOGLM_{root}"):
        return f"{name}: no settings read OPEN_AUTOGLM_{root}__*"
    model, skip = roots[root.lower()]
    parts = [p.lower() for p in tail.split("__") if p]
    problem = resolve_setting(model, parts, skip=skip) if parts else None
    return f"{name}: {problem}" if problem else None


def check_dotted_setting(path: str) -> str | None:
    """`edge.http.port`, `cloud.edge_offline_after_s`, `planner.max_queue`: a settings path."""
    root, _, rest = path.partition(".")
    model, _skip = _roots()[root]
    problem = resolve_setting(model, rest.split("."))
    return f"{path}: {problem}" if problem else None


def check_toml_table(table: str, values: dict[str, Any]) -> list[str]:
    """Every key of an [edge] / [cloud] / [planner] table is a setting."""
    model, _skip = _roots()[table]
    problems = []

    def walk(prefix: list[str], node: dict[str, Any]) -> None:
        for key, value in node.items():
            problem = resolve_setting(model, [*prefix, key])
            if problem:
                problems.append(f"[{table}] {'.'.join([*prefix, key])}: {problem}")
            elif isinstance(value, dict) and _model_at(model, [*prefix, key]) not in (None, "dict"):
                walk([*prefix, key], value)

    walk([], values)
    return problems


def _model_at(model: type[BaseModel], parts: list[str]) -> Any:
    current: Any = model
    for part in parts:
        current = _model_of(current.model_fields[part].annotation)
    return current


# CLI


def check_cli(tokens: list[str]) -> str | None:
    """`tokens` after `autoglm`: subcommands down to a command, then its --options."""
    from autoglm.cli import app

    command: Any = typer.main.get_command(app)  # typer's own click: duck-typed
    path = ["autoglm"]
    rest = list(tokens)
    while hasattr(command, "commands"):
        if not rest or rest[0].startswith("-"):
            return None if rest and rest[0] in ("--help", "-h") else f"`{' '.join(path)}` needs a subcommand"
        word = rest.pop(0)
        sub = command.commands.get(word)
        if sub is None:
            return f"`{' '.join(path)}` has no command {word!r} (it has {sorted(command.commands)})"
        command, path = sub, [*path, word]
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}
    for token in rest:
        if token.startswith("--") and token.split("=", 1)[0] not in options:
            return f"`{' '.join(path)}` has no option {token.split('=', 1)[0]} (it has {sorted(options)})"
    return None
