"""Prometheus metrics of one edge daemon (own registry: no process-wide globals)."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from edge.devices.entity import Entity
from edge.io.breaker import BreakerState
from shared.decision import Decision
from shared.errors import AutoGLMError, PayloadError, StorageError, TopicError

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class EdgeMetrics:
    """Every metric the edge exports, all prefixed `autoglm_edge_`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages = Counter("autoglm_edge_mqtt_messages", "MQTT messages received, by kind", ["kind"],
                                registry=r)
        self.bad_messages = Counter("autoglm_edge_bad_messages", "Messages rejected, by kind and reason",
                                    ["kind", "reason"], registry=r)
        self.decisions = Counter("autoglm_edge_decisions", "Decisions, by source and outcome",
                                 ["source", "outcome"], registry=r)
        self.decision_latency = Histogram("autoglm_edge_decision_latency_seconds",
                                          "Utterance to decision, device confirmation included", ["source"],
                                          buckets=LATENCY_BUCKETS, registry=r)
        self.command_latency = Histogram("autoglm_edge_command_latency_seconds",
                                         "Device command to confirmed state", ["domain", "outcome"],
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.devices = Gauge("autoglm_edge_devices", "Known entities", registry=r)
        self.devices_available = Gauge("autoglm_edge_devices_available", "Entities reporting online",
                                       registry=r)
        self.mqtt_connected = Gauge("autoglm_edge_mqtt_connected", "1 while connected to the local broker",
                                    registry=r)
        self.cloud_breaker = Gauge("autoglm_edge_cloud_breaker_state",
                                   "Cloud fallback circuit breaker: 1 for the current state", ["state"], registry=r)
        self.uplink_connected = Gauge("autoglm_edge_uplink_connected", "1 while the uplink to the cloud is up",
                                      registry=r)
        self.outbox = Gauge("autoglm_edge_outbox_messages", "Uplink messages waiting for the broker", registry=r)
        self.outbox_dropped = Counter("autoglm_edge_outbox_dropped", "Uplink messages the full outbox dropped "
                                      "(oldest first; reported to the cloud when it is back)", registry=r)
        self.alerts = Counter("autoglm_edge_alerts", "Behaviour-monitor alerts, by rule", ["rule"], registry=r)
        self.mqtt_reconnects = Counter("autoglm_edge_mqtt_reconnects", "Connections lost to the local broker",
                                       registry=r)
        self.storage_errors = Counter("autoglm_edge_storage_errors", "Writes a local database refused (a full "
                                      "disk, a broken file), by what was being written", ["what"], registry=r)
        self.model_rollouts = Counter("autoglm_edge_model_rollouts", "Model orders from the cloud, by outcome "
                                      "(activated, rolled_back, unchanged, rejected)", ["outcome"], registry=r)
        for outcome in ("activated", "rolled_back", "unchanged", "rejected"):  # 0 until one happens, so alert
            self.model_rollouts.labels(outcome)                                 # rules see a series from the start
        self.model_info = Gauge("autoglm_edge_model_info", "1 for the intent model version serving", ["version"],
                                registry=r)

    def set_model_version(self, version: str | None) -> None:
        """Show only the version now serving."""
        self.model_info.clear()
        if version is not None:
            self.model_info.labels(version).set(1)

    def observe_decision(self, decision: Decision) -> None:
        """Count a decision and its latency, and each device command's latency."""
        source = decision.source.value if decision.source else "none"
        self.decisions.labels(source, decision.outcome.value).inc()
        self.decision_latency.labels(source).observe(decision.latency_ms / 1000)
        for action in decision.actions:
            if action.latency_ms is not None and action.outcome is not None:
                self.command_latency.labels(action.domain, action.outcome.value).observe(action.latency_ms / 1000)

    def connection_changed(self, connected: bool) -> None:
        """The local broker connection went up or down."""
        self.mqtt_connected.set(1 if connected else 0)
        if not connected:
            self.mqtt_reconnects.inc()

    def breaker_changed(self, state: str) -> None:
        """The cloud circuit breaker is in `state` now (one series per state, 1 for the current one)."""
        for series in BreakerState:
            self.cloud_breaker.labels(series.value).set(1 if series.value == state else 0)

    def devices_changed(self, entities: list[Entity]) -> None:
        """How many entities the edge knows, and how many say they are online."""
        self.devices.set(len(entities))
        self.devices_available.set(sum(1 for e in entities if e.available))

    def rejected(self, topic: str, size: int, exc: AutoGLMError) -> None:
        """An inbound message the edge could not take: counted by kind and code, and logged (a full disk too)."""
        if isinstance(exc, StorageError):
            self.storage_failed("message", exc, topic=topic)
            return
        kind = "payload" if isinstance(exc, PayloadError | TopicError) else "handling"
        self.bad_messages.labels(kind, exc.code).inc()
        log.warning("message rejected", extra={"topic": topic, "reason": str(exc), "code": exc.code, "bytes": size})

    def model_outcome(self, outcome: str, version: str | None) -> None:
        """A roll-out order ended so, with `version` serving."""
        self.model_rollouts.labels(outcome).inc()
        self.set_model_version(version)

    def storage_failed(self, what: str, exc: Exception, **extra: Any) -> None:
        """A local database refused a write (a full disk): counted and logged, naming the file."""
        self.storage_errors.labels(what).inc()
        log.error("not stored: %s", exc, extra={"event": "storage_error", "what": what, **extra})
