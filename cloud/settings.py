"""Cloud settings: pydantic-settings, env prefix OPEN_AUTOGLM_, nested delimiter `__`.

`OPEN_AUTOGLM_CLOUD__PORT=9000` sets cloud.port; the planner reads `OPEN_AUTOGLM_PLANNER__*`
(for example `OPEN_AUTOGLM_PLANNER__BACKEND=openai`) and the plain `OPEN_AUTOGLM_LAZY_LOAD=1`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.bus import BusSettings
from shared.errors import ConfigError
from shared.mapping import deep_merge

#: The env var DESIGN.md §1 names: load the planner model on first use.
LAZY_LOAD_ENV = "OPEN_AUTOGLM_LAZY_LOAD"


class PlannerSettings(BaseSettings):
    """The planner engine (local GLM model or an OpenAI-compatible server); env `OPEN_AUTOGLM_PLANNER__*`."""

    model_config = SettingsConfigDict(env_prefix="OPEN_AUTOGLM_PLANNER__", env_nested_delimiter="__",
                                      extra="ignore")

    backend: Literal["local", "openai"] = "local"
    model_dir: Path | None = Field(default=None, description="local checkpoint directory (Glm4ForCausalLM)")
    dtype: Literal["int8", "bf16", "fp32"] = "int8"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    lazy_load: bool = Field(default=False, description="load the model on first use; also OPEN_AUTOGLM_LAZY_LOAD=1")
    max_batch_size: int = Field(default=32, ge=1, le=1024)
    batch_timeout_micros: int = Field(default=100_000, ge=0, description="longest a request waits for a batch")
    max_queue: int = Field(default=256, ge=1, description="queued requests before 429")
    request_timeout_s: float = Field(default=30.0, gt=0)
    max_new_tokens: int = Field(default=256, ge=1, le=8192)
    openai_base_url: str | None = Field(default=None, description="e.g. http://vllm:8000/v1")
    openai_model: str | None = None
    openai_api_key: SecretStr | None = None

    def model_post_init(self, context: Any, /) -> None:
        if os.environ.get(LAZY_LOAD_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
            self.lazy_load = True


class CloudSettings(BaseModel):
    """Everything the cloud control plane needs."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    db_path: Path = Path("var/cloud.db")
    token_ttl_days: int = Field(default=90, ge=0, description="default token lifetime; 0 = never expires")
    edge_offline_after_s: float = Field(default=90.0, gt=0, description="no heartbeat for this long = offline")
    mqtt: BusSettings = Field(default_factory=BusSettings, description="the broker the edges' uplinks reach")
    mqtt_enabled: bool = Field(default=True, description="run the twin sync and edge commands over MQTT")
    command_timeout_s: float = Field(default=10.0, gt=0, description="how long a command to an edge may take")
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="larger request bodies get 413 unread")
    edge_models_dir: Path | None = Field(default=None, description="edge intent model versions offered for "
                                         "roll-out, one directory per version; default: edge-models/ next to db_path")
    planner: PlannerSettings = Field(default_factory=PlannerSettings)

    @property
    def edge_models_root(self) -> Path:
        """Where the offered edge model versions are."""
        return self.edge_models_dir or self.db_path.parent / "edge-models"


class _Env(BaseSettings):
    """Root of the environment: `OPEN_AUTOGLM_CLOUD__*`."""

    model_config = SettingsConfigDict(env_prefix="OPEN_AUTOGLM_", env_nested_delimiter="__", extra="ignore")

    cloud: dict[str, Any] = Field(default_factory=dict)


def load_cloud_settings(path: Path | None = None, **overrides: Any) -> CloudSettings:
    """Settings from an optional TOML file ([cloud] and [planner] tables), then the environment, then overrides."""
    file_values: dict[str, Any] = {}
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc}") from None
        file_values = dict(doc.get("cloud", {}))
        if isinstance(doc.get("planner"), dict):
            file_values["planner"] = deep_merge(doc["planner"], file_values.get("planner", {}))
    planner_override = overrides.pop("planner", {})
    if isinstance(planner_override, PlannerSettings):
        planner_override = planner_override.model_dump(exclude_unset=True)
    try:
        env_planner = PlannerSettings().model_dump(exclude_unset=True)
        # Init values win over the environment inside PlannerSettings, so merge file < env < overrides here.
        planner = PlannerSettings(**deep_merge(deep_merge(file_values.pop("planner", {}), env_planner),
                                                planner_override))
    except ValidationError as exc:
        raise ConfigError(_first_error("planner", exc)) from None
    try:
        merged = deep_merge(deep_merge(file_values, _Env().cloud), overrides)
        return CloudSettings.model_validate({**merged, "planner": planner})
    except ValidationError as exc:
        raise ConfigError(_first_error("cloud", exc)) from None


def _first_error(table: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"setting {table}.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
