"""Edge settings: pydantic-settings, env prefix OPEN_AUTOGLM_, nested delimiter `__`."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from edge.cloud_client import CloudSettings
from edge.decision_cache import CacheSettings
from edge.monitor import MonitorSettings
from edge.policy import PolicySettings
from shared.errors import ConfigError
from shared.mapping import deep_merge
from shared.topics import check_segment

#: The model shipped with the edge package (built by `autoglm intent train`).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "intent"


class MqttSettings(BaseModel):
    """The local broker the gateway's devices use (Mosquitto, zigbee2mqtt's broker, ...)."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    client_id: str | None = Field(default=None, description="default: autoglm-edge-<edge_id>")
    keepalive: int = Field(default=30, ge=5, le=3600)
    tls: bool = False
    ca_file: Path | None = None
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    inbound_queue: int = Field(default=10_000, ge=10, description="messages buffered before backpressure")


class HttpSettings(BaseModel):
    """/healthz, /readyz and /metrics."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535)


class UplinkSettings(BaseModel):
    """The link to the cloud: twin reports, events and commands (DESIGN.md §3)."""

    mqtt: MqttSettings | None = Field(default=None, description="the cloud's broker; none: the local broker")
    outbox: bool = Field(default=True, description="keep uplink messages in outbox.db until the broker has them")
    outbox_max: int = Field(default=1_000_000, ge=1, description="messages kept; beyond it the oldest are dropped")
    outbox_batch: int = Field(default=200, ge=1, le=10_000,
                              description="sent per acknowledging commit; a crash resends at most this many")
    heartbeat_s: float = Field(default=30.0, gt=0, description="how often the retained status is refreshed")


class EdgeSettings(BaseModel):
    """Everything one gateway needs."""

    edge_id: str = "edge-1"
    data_dir: Path = Path("var/edge")
    discovery_prefix: str = "homeassistant"
    mqtt: MqttSettings = MqttSettings()
    http: HttpSettings = HttpSettings()
    languages: list[str] = ["en", "zh-cn"]
    model_dir: Path | None = Field(default_factory=lambda: DEFAULT_MODEL_DIR,
                                   description="intent model directory; None serves template matches only")
    model_poll_s: float = Field(default=2.0, gt=0, description="how often the model directory is checked")
    model_threads: int = Field(default=1, ge=1, description="ONNX Runtime intra-op threads")
    model_versions_kept: int = Field(default=3, ge=2, description="rolled-out model versions kept under "
                                     "<data_dir>/models (the active and the previous one always)")
    model_download_timeout_s: float = Field(default=60.0, gt=0, description="network timeout of a roll-out's "
                                            "file download from edge.cloud.url")
    confirmation_ttl_s: float = Field(default=120.0, gt=0, description="how long a confirmation token is valid")
    confirm_timeout_s: float = Field(default=3.0, gt=0, description="how long a device has to confirm")
    max_concurrent_utterances: int = Field(default=64, ge=1)
    area_aliases: dict[str, list[str]] = Field(
        default_factory=dict, description="extra spoken names per area, e.g. {'Living Room': ['lounge', '起居室']}"
    )
    name_aliases: dict[str, list[str]] = Field(
        default_factory=dict, description="extra spoken names per device unique_id"
    )
    uplink: UplinkSettings = Field(default_factory=UplinkSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings, description="behaviour monitoring")
    policy: PolicySettings = Field(default_factory=PolicySettings, description="admission under load")
    cache: CacheSettings = Field(default_factory=CacheSettings, description="the decision cache (decisions.db)")
    cloud: CloudSettings = Field(default_factory=CloudSettings,
                                 description="the cloud planner for what the edge cannot do; no url: local only")

    def model_post_init(self, context: Any, /) -> None:
        check_segment(self.edge_id, "edge id")

    @property
    def db_path(self) -> Path:
        """The twin/registry/decision database."""
        return self.data_dir / "edge.db"

    @property
    def models_root(self) -> Path:
        """Where rolled-out model versions and active.json live."""
        return self.data_dir / "models"

    @property
    def client_id(self) -> str:
        """MQTT client id; stable so the broker keeps the session across restarts."""
        return self.mqtt.client_id or f"autoglm-edge-{self.edge_id}"

    @property
    def uplink_client_id(self) -> str:
        """The uplink connection's client id (distinct from the local one, also when both use one broker)."""
        uplink = self.uplink.mqtt
        return (uplink.client_id if uplink is not None and uplink.client_id else None) or f"{self.client_id}-uplink"


class Settings(BaseSettings):
    """Root settings; `OPEN_AUTOGLM_EDGE__MQTT__HOST=broker` sets edge.mqtt.host."""

    model_config = SettingsConfigDict(env_prefix="OPEN_AUTOGLM_", env_nested_delimiter="__", extra="ignore")

    edge: EdgeSettings = EdgeSettings()


def load_settings(path: Path | None = None, **overrides: Any) -> EdgeSettings:
    """Settings from an optional TOML file (its [edge] table), then the environment, then overrides."""
    file_values: dict[str, Any] = {}
    if path is not None:
        try:
            file_values = tomllib.loads(path.read_text()).get("edge", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc}") from None
    try:
        env = Settings().edge.model_dump(exclude_unset=True)
        merged = deep_merge(deep_merge(file_values, env), overrides)
        return EdgeSettings.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting edge.{where}: {first['msg']}") from None
    except Exception as exc:  # shared.errors from model_post_init
        raise ConfigError(str(exc)) from None
