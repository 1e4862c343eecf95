"""Edge settings: pydantic-settings, env prefix OPEN_AUTOGLM_, nested delimiter `__`.

Over 300 lines: every settings class of the edge lives here, so that this module stays a leaf that any layer imports.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError
from shared.mapping import deep_merge
from shared.topics import check_segment

#: The model shipped with the edge package (built by `autoglm intent train`).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "intent"


class BreakerSettings(BaseModel):
    """When a circuit breaker opens, how long it stays open, and how it probes the peer again."""

    call_timeout_s: float = Field(default=0.8, gt=0, description="deadline of one call; a timeout is a failure")
    failure_rate_threshold: float = Field(default=0.5, gt=0, le=1,
                                          description="failure share of the window that opens the breaker")
    window_size: int = Field(default=20, ge=1, description="how many recent call outcomes the rate is taken over")
    minimum_calls: int = Field(default=5, ge=1, description="outcomes the window needs before it may open")
    open_s: float = Field(default=5.0, gt=0, description="how long it stays open before probing the peer")
    half_open_probes: int = Field(default=1, ge=1,
                                  description="concurrent probe calls when half-open; that many successes close it")

    @model_validator(mode="after")
    def _window_holds_minimum(self) -> Self:
        if self.minimum_calls > self.window_size:
            raise ValueError(f"minimum_calls ({self.minimum_calls}) must not exceed window_size ({self.window_size}),"
                             " or the breaker could never open")
        return self


class CloudSettings(BaseModel):
    """The cloud planner this edge falls back to; no url means no cloud (degraded replies only)."""

    url: str | None = Field(default=None, description="base URL, e.g. https://cloud.example.com; None: no cloud")
    token: SecretStr | None = Field(default=None, description="this edge's credential: "
                                    "autoglm cloud token create --role edge --edge EDGE_ID")
    timeout_s: float = Field(default=0.8, gt=0, description="deadline of one plan request, connect to parsed "
                             "answer; used instead of breaker.call_timeout_s")
    breaker: BreakerSettings = BreakerSettings()
    offline_policy: Literal["refuse", "queue"] = Field(
        default="refuse", description="a request that needs the cloud while it is unreachable: refuse at once, or "
        "queue it (durably) and run it when the cloud is back, unless it expired")
    queue_expiry_s: float = Field(default=900.0, gt=0, description="how long a queued request stays worth doing")
    queue_max: int = Field(default=1000, ge=1, description="queued requests kept; beyond it the oldest are dropped")

    @model_validator(mode="after")
    def _url_needs_token(self) -> Self:
        if self.url is not None:
            if not self.url.startswith(("http://", "https://")):
                raise ValueError(f"url must start with https:// or http://, got {self.url!r}")
            if self.token is None:
                raise ValueError("a cloud url needs a token: autoglm cloud token create --role edge --edge EDGE_ID")
        return self


class CacheSettings(BaseModel):
    """Lifetimes and size of the decision cache."""

    enabled: bool = Field(default=True, description="False: the daemon builds no cache")
    local_ttl_s: float = Field(default=24 * 3600.0, gt=0, description="lifetime of template and model decisions")
    cloud_ttl_s: float = Field(default=7 * 24 * 3600.0, gt=0, description="lifetime of cloud plans")
    max_entries: int = Field(default=10_000, ge=1, description="least recently used rows go beyond this")
    volatile_props: list[str] = Field(
        default_factory=lambda: ["linkquality", "last_seen", "rssi", "battery", "voltage", "current", "power",
                                 "energy", "update", "update_available"],
        description="twin properties left out of the fingerprint: they change all the time and decide nothing",
    )


class MonitorSettings(BaseModel):
    """Windows, thresholds and night hours of the behaviour monitor."""

    bucket_s: float = Field(default=60.0, gt=0, description="width of one rate bucket")
    window_buckets: int = Field(default=60, ge=2, description="past buckets the mean and std are taken over")
    sigma: float = Field(default=3.0, ge=0, description="a bucket above mean + sigma * std is a burst")
    device_floor: int = Field(default=6, ge=0, description="a bucket with at most this many commands to one device "
                                                           "is never a burst (a quiet device may do 3 at once)")
    user_floor: int = Field(default=10, ge=0, description="the same floor for commands from one user")
    limit_s: float = Field(default=300.0, gt=0, description="how long a bursting device or user stays limited")
    similarity_threshold: float = Field(default=0.7, ge=0, le=1,
                                        description="a command less similar than this to the user's history "
                                                    "needs confirmation")
    min_history: int = Field(default=20, ge=1, description="requests a user needs before similarity applies")
    history_size: int = Field(default=200, ge=1, description="recent requests per user compared against")
    night_start: time = Field(default=time(22, 0), description="local time the night begins")
    night_end: time = Field(default=time(6, 0), description="local time the night ends")
    timezone: str | None = Field(default=None, description="IANA zone of the home; None: the gateway's zone")
    sequence_window_s: float = Field(default=600.0, gt=0, description="how long after a disarm an unlock is held")
    disarm_commands: frozenset[str] = Field(default=frozenset({"disarm", "alarm_disarm"}),
                                            description="command names that disarm an alarm")
    unlock_commands: frozenset[str] = Field(default=frozenset({"unlock"}),
                                            description="command names that open the home to someone")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Asia/Shanghai'") from exc
        return value


class Priority(StrEnum):
    """How much a request matters when the edge is short of capacity."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for high: sorts first."""
        return _RANK[self]


_RANK = {Priority.HIGH: 0, Priority.NORMAL: 1, Priority.LOW: 2}


class Action(StrEnum):
    """What admission does with a request."""

    ROUTE = "route"  # run it now, as without a policy
    QUEUE = "queue"  # run it under Admission: limited concurrency, high priority first, shed after wait_s
    SHED = "shed"  # refuse it at once (answer "busy")


#: Locks and alarms stay responsive under load; settings add to these rather than replace them.
DEFAULT_DEVICE_PRIORITIES: dict[str, Priority] = {"lock": Priority.HIGH, "alarm_control_panel": Priority.HIGH}


class PolicyRule(BaseModel):
    """When the load condition holds (all given thresholds exceeded), act on the priorities listed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    cpu_above: float | None = Field(default=None, description="CPU busy share of all cores, 0-1 (0.8 = 80%)")
    p95_latency_ms_above: float | None = Field(default=None, gt=0, description="p95 decision latency, ms")
    actions: dict[Priority, Action] = Field(min_length=1, description="the priorities it applies to, and what to do")
    wait_s: float = Field(default=2.0, gt=0, description="longest a queued request waits before it is shed")

    @field_validator("cpu_above")
    @classmethod
    def _cpu_is_a_fraction(cls, value: float | None) -> float | None:
        if value is not None and not 0 <= value < 1:
            raise ValueError(f"cpu_above is a fraction of all cores between 0 and 1 (0.8 for 80%), not {value:g}")
        return value

    @model_validator(mode="after")
    def _high_is_never_shed(self) -> Self:
        if self.actions.get(Priority.HIGH) is Action.SHED:
            raise ValueError(f"rule {self.name!r} sheds high-priority work; high priority may only queue or route")
        return self

    @property
    def unconditional(self) -> bool:
        """True when the rule holds whatever the load."""
        return self.cpu_above is None and self.p95_latency_ms_above is None

    def holds(self, load: LoadSample) -> bool:
        """Every threshold the rule sets is exceeded; an unknown signal exceeds nothing."""
        if self.cpu_above is not None and (load.cpu is None or load.cpu <= self.cpu_above):
            return False
        p95 = load.p95_latency_ms
        return self.p95_latency_ms_above is None or (p95 is not None and p95 > self.p95_latency_ms_above)


def default_rules() -> list[PolicyRule]:
    """The reference deployment's rules: shed low and queue normal above 80% CPU or 500 ms p95, else route."""
    overload = {Priority.LOW: Action.SHED, Priority.NORMAL: Action.QUEUE}
    return [PolicyRule(name="overload_cpu", cpu_above=0.8, actions=overload),
            PolicyRule(name="overload_latency", p95_latency_ms_above=500.0, actions=overload),
            PolicyRule(name="default", actions=dict.fromkeys(Priority, Action.ROUTE))]


class PolicySettings(BaseModel):
    """Admission rules, who and what is high priority, and how load is measured."""

    model_config = ConfigDict(extra="forbid")

    rules: list[PolicyRule] = Field(default_factory=default_rules, min_length=1,
                                    description="checked in order; the last must apply to every priority, always")
    user_priorities: dict[str, Priority] = Field(default_factory=dict, description="user id -> priority")
    device_priorities: dict[str, Priority] = Field(default_factory=lambda: dict(DEFAULT_DEVICE_PRIORITIES),
                                                   description="device id or domain -> priority")
    source_priorities: dict[str, Priority] = Field(default_factory=dict,
                                                   description="utterance source (cli, a satellite) -> priority")
    default_priority: Priority = Priority.NORMAL
    cpu_refresh_s: float = Field(default=1.0, gt=0, description="how often the CPU reading is refreshed")
    latency_window: int = Field(default=200, ge=1, description="recent decision latencies the p95 is taken over")
    latency_max_age_s: float = Field(default=60.0, gt=0, description="latencies older than this leave the window")
    latency_min_samples: int = Field(default=20, ge=1, description="latencies needed before p95 counts")
    queue_concurrency: int = Field(default=4, ge=1, description="queued requests that run at once")
    queue_max_waiting: int = Field(default=256, ge=1, description="queued requests waiting; beyond it the lowest "
                                                                  "priority is shed")

    @field_validator("device_priorities")
    @classmethod
    def _keep_default_devices(cls, value: dict[str, Priority]) -> dict[str, Priority]:
        # A settings file that names one device must not silently drop locks and alarms to normal.
        return {**DEFAULT_DEVICE_PRIORITIES, **value}

    @model_validator(mode="after")
    def _rules_cover_everything(self) -> Self:
        names = [rule.name for rule in self.rules]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"rule names must be unique (each decision names its rule): {', '.join(duplicates)}")
        last = self.rules[-1]
        if not last.unconditional or set(last.actions) != set(Priority):
            raise ValueError(f"the last rule ({last.name!r}) must have no load condition and act on every priority"
                             " (high, normal, low), so that every request meets a rule")
        for index, rule in enumerate(self.rules[:-1]):
            if rule.unconditional and set(rule.actions) == set(Priority):
                raise ValueError(f"rule {rule.name!r} applies always, so the rules after it are never reached: "
                                 f"{', '.join(names[index + 1:])}")
        return self


@dataclass(frozen=True, slots=True)
class LoadSample:
    """The load signals a decision was made on; None: not known (yet)."""

    cpu: float | None = None  # busy share of all cores, 0-1
    p95_latency_ms: float | None = None



@dataclass(frozen=True, slots=True)
class Safeguards:
    """Safeguards of the daemon that only a negative control switches off; never settings a user can change.

    Each names what goes wrong without it, which is what the reliability suite's negative controls show.
    """

    contain_errors: bool = True  # off: a bad message or a refused write raises out of the router and the recorder
    ack_after_commit: bool = True  # off: QoS 1 messages are acknowledged on arrival (a kill -9 loses what is queued)
    resubscribe: bool = True  # off: subscriptions go out on the first connection only (a take-over loses them)
    report_drops: bool = True  # off: the outbox drops and counts, but the cloud never hears of it
    check_versions: bool = True  # off: every desired value is applied whatever its version
    check_expiry: bool = True  # off: every command from the cloud runs, however late


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
    max_concurrent_utterances: int = Field(default=64, ge=1, description="requests decided at once")
    max_waiting_utterances: int = Field(default=1024, ge=0, description="requests waiting for one of those slots; "
                                        "beyond it a request is answered busy at once")
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
