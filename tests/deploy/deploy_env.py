"""Checks shared by the deploy tests: OPEN_AUTOGLM_* names against the settings models, the CLI commands."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from typer.main import get_command

from autoglm.cli import app
from cloud.settings import LAZY_LOAD_ENV, CloudSettings, PlannerSettings
from edge.config import EdgeSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ENV_NAME = re.compile(r"OPEN_AUTOGLM_[A-Z0-9_]*[A-Z0-9]")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model in a field's type (`X`, `X | None`), if any."""
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _has_path(model: type[BaseModel], parts: list[str]) -> bool:
    field = model.model_fields.get(parts[0])
    if field is None:
        return False
    if len(parts) == 1:
        return True
    sub = _model_of(field.annotation)
    return sub is not None and _has_path(sub, parts[1:])


def cli_env_vars() -> frozenset[str]:
    """The environment variables the `autoglm` command's options read (e.g. OPEN_AUTOGLM_MQTT_USERNAME)."""
    found: set[str] = set()

    def walk(command: Any) -> None:
        for param in getattr(command, "params", ()):
            envvar = getattr(param, "envvar", None)
            found.update([envvar] if isinstance(envvar, str) else envvar or ())
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(get_command(app))
    return frozenset(found)


def setting_exists(name: str) -> bool:
    """Whether an OPEN_AUTOGLM_* environment variable sets a real field (pydantic ignores unknown ones) or a CLI
    option of the command the container runs."""
    if name == LAZY_LOAD_ENV or name in cli_env_vars():
        return True
    roots: dict[str, type[BaseModel]] = {"OPEN_AUTOGLM_EDGE__": EdgeSettings, "OPEN_AUTOGLM_CLOUD__": CloudSettings,
                                         "OPEN_AUTOGLM_PLANNER__": PlannerSettings}
    for prefix, model in roots.items():
        if name.startswith(prefix):
            return _has_path(model, name[len(prefix):].lower().split("__"))
    return False


def cli_command_exists(words: list[str]) -> bool:
    """Whether `autoglm <words...>` names a real (sub)command; options after the command are not checked."""
    command: Any = get_command(app)
    for word in words:
        if word.startswith("-"):
            break
        sub = getattr(command, "commands", None)
        if sub is None:
            break
        if word not in sub:
            return False
        command = sub[word]
    return not hasattr(command, "commands")
