"""Composition root of the edge: builds every part with its dependencies, routes each MQTT message to its owner."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time

from edge.config import EdgeSettings, Safeguards
from edge.decision.fallback import Fallback
from edge.decision.front_door import FrontDoor
from edge.decision.gate import Gate
from edge.decision.intents import IntentHandlers
from edge.decision.model_stage import ModelStage
from edge.decision.pipeline import Pipeline
from edge.decision.plan_memory import CachedPlans
from edge.decision.plan_runner import LocalPlanRunner
from edge.decision.recorder import DecisionRecorder
from edge.decision.template_stage import TemplateStage
from edge.devices.executor import Executor
from edge.devices.ingest import DeviceIngest
from edge.devices.registry import Registry
from edge.devices.twins import Twins
from edge.guard.admission import Admission
from edge.guard.confirmations import Confirmations
from edge.guard.monitor import Alert, Monitor
from edge.guard.policy import AdmissionPolicy
from edge.io.breaker import BreakerState
from edge.io.cloud_client import CloudClient
from edge.io.decision_cache import open_cache
from edge.io.http import HttpServer, create_app
from edge.io.intent_model import load_intent_model
from edge.io.load import SystemLoad
from edge.io.metrics import EdgeMetrics
from edge.io.model_channel import ModelChannel
from edge.io.model_rollout import HttpFetcher, ModelRollout, active_dir
from edge.io.mqtt import PahoBus
from edge.io.outbox import Outbox
from edge.io.store import EdgeStore
from edge.ports import Message
from edge.router import Handler, Router
from edge.uplink.events import Events
from edge.uplink.twin_sync import Uplink
from shared.codec import encode
from shared.topics import EdgeChannel, discovery_filters, edge_topic

log = logging.getLogger(__name__)



class EdgeDaemon:
    """One gateway's daemon. `await start()`, then `await run()` (or use `run_daemon`)."""

    def __init__(self, settings: EdgeSettings, *, safeguards: Safeguards | None = None) -> None:
        """`safeguards` are all on, except in the negative controls of the reliability suite."""
        s, g = settings, safeguards or Safeguards()
        self.settings = settings
        self.metrics = EdgeMetrics()
        self.store = EdgeStore(s.db_path)
        self.registry = Registry(s.area_aliases, s.name_aliases)
        self.twins = Twins(self.store)
        bus = functools.partial(PahoBus, resubscribe=g.resubscribe, ack_after_commit=g.ack_after_commit)
        self.bus = bus(s.mqtt, s.client_id, on_connection_change=self.metrics.connection_changed)
        # The uplink has a connection of its own (to the cloud's broker, or the local one when none is set): the
        # last will says "offline" when the link to the cloud breaks, and a cloud broker that is down never slows
        # the local devices.
        status = edge_topic(s.edge_id, EdgeChannel.STATUS)
        self.uplink_bus = bus(s.uplink.mqtt or s.mqtt, s.uplink_client_id,
                              will=(status, encode({"state": "offline", "edge_id": s.edge_id})),
                              birth=(status, encode({"state": "online", "edge_id": s.edge_id})),
                              on_connection_change=self._on_uplink_connection)
        self.executor = Executor(self.bus, self.twins, timeout_s=s.confirm_timeout_s,
                                 slow_timeout_s=max(s.confirm_timeout_s, 30.0))
        outbox = None
        if s.uplink.outbox:  # durable: reports and events outlive an outage and a restart
            outbox = Outbox(s.data_dir / "outbox.db", max_messages=s.uplink.outbox_max,
                            on_drop=self.metrics.outbox_dropped.inc, report_drops=g.report_drops)
            self.metrics.outbox.set_function(outbox.__len__)
        self.uplink = Uplink(s.edge_id, self.uplink_bus, self.registry, self.twins, self.store, self.executor,
                             heartbeat_s=s.uplink.heartbeat_s, outbox=outbox, outbox_batch=s.uplink.outbox_batch,
                             on_storage_error=lambda _exc: self.metrics.storage_errors.labels("uplink").inc(),
                             check_versions=g.check_versions, check_expiry=g.check_expiry)
        self.events = Events(self.uplink.event)
        self.ingest = DeviceIngest(self.registry, self.twins, self.store, self.bus, self.uplink.reported,
                                   discovery_prefix=s.discovery_prefix,
                                   on_change=lambda: self.metrics.devices_changed(self.registry.entities()),
                                   on_ignored=lambda why: self.metrics.bad_messages.labels("discovery", why).inc())
        # A version rolled out from the cloud (<data_dir>/models/active.json) outlives a restart.
        self.model = ModelStage(self.registry, active_dir(s.models_root) or s.model_dir, load=load_intent_model,
                                threads=s.model_threads)
        self.cache = open_cache(s.cache, s.data_dir / "decisions.db", self.twins.values)
        self.cloud = CloudClient(s.cloud, s.edge_id, on_state_change=self._on_breaker) if s.cloud.url else None
        self._on_breaker(BreakerState.CLOSED, BreakerState.CLOSED)
        self.load = SystemLoad(s.policy)
        self.monitor = Monitor(s.monitor, on_alert=self._on_alert)
        self.confirmations = Confirmations(s.confirmation_ttl_s)
        self.gate = Gate(s.edge_id, confirmations=self.confirmations, policy=AdmissionPolicy(s.policy, self.load),
                         admission=Admission(s.policy.queue_concurrency, s.policy.queue_max_waiting),
                         monitor=self.monitor, on_latency=self.load.record_latency)
        plans = CachedPlans(self.cache, self.registry) if self.cache is not None else None
        self.fallback: Fallback | None = None
        runner = None
        if self.cloud is not None:
            queue = None
            if s.cloud.offline_policy == "queue":  # durable: queued requests outlive a restart
                queue = Outbox(s.data_dir / "cloud_requests.db", max_messages=s.cloud.queue_max)
            self.fallback = Fallback(self.cloud, queue=queue, expiry_s=s.cloud.queue_expiry_s, plans=plans)
            runner = LocalPlanRunner(self.registry, self.twins, self.executor, self.events.notify)
        self.template = TemplateStage(self.registry, s.languages)
        self.pipeline = Pipeline(s.edge_id, self.registry, self.template,
                                 IntentHandlers(self.registry, self.twins.values), self.executor, self.model,
                                 self.fallback, self.cache, gate=self.gate, runner=runner, plans=plans)
        self.recorder = DecisionRecorder(s.edge_id, self.store, self.bus, self.uplink.event,
                                    on_decision=self.metrics.observe_decision,
                                    on_storage_error=lambda exc, trace: self.metrics.storage_failed(
                                        "decision", exc, trace_id=trace), contain_storage_errors=g.contain_errors)
        self.front_door = FrontDoor(self.gate, self.pipeline, self.recorder, confirmations=self.confirmations,
                                    max_concurrent=s.max_concurrent_utterances, max_waiting=s.max_waiting_utterances)
        self._fetcher = HttpFetcher.for_cloud(s.cloud, timeout_s=s.model_download_timeout_s)
        self.rollout = ModelRollout(s.models_root, self.model, self._fetcher, keep=s.model_versions_kept,
                                    on_outcome=self.metrics.model_outcome)
        self.models = ModelChannel(self.rollout, self.model, self.uplink.event, on_changed=self._model_changed)
        self.http = None
        if s.http.enabled:
            app = create_app(self.metrics, self.readiness, self.ingest.describe, self.degraded,
                             self.front_door.confirm)
            self.http = HttpServer(app, s.http.host, s.http.port)
        routes: dict[str, tuple[str, Handler]] = {  # every other topic is a device's, or nobody's
            edge_topic(s.edge_id, EdgeChannel.UTTERANCES): ("utterance", self.front_door.utterance),
            edge_topic(s.edge_id, EdgeChannel.MODELS): ("model_order", self.models.order),
            self.uplink.desired_topic: ("twin", self.uplink.receive),
        }
        self.router = Router(routes, self.ingest.route, counted=lambda kind: self.metrics.messages.labels(kind).inc(),
                             rejected=self.metrics.rejected, contain_errors=g.contain_errors)
        self._warm = False

    async def start(self, connect_timeout: float | None = None) -> None:
        """Open the store, restore the registry and twins, connect, warm the matcher."""
        await self.store.open()
        await self.ingest.restore()
        for topic_filter in (*discovery_filters(self.settings.discovery_prefix), self._topic(EdgeChannel.UTTERANCES)):
            await self.bus.subscribe(topic_filter)
        await self.uplink_bus.subscribe(self._topic(EdgeChannel.MODELS))  # retained: the latest order on connect
        await self.uplink.start()  # subscribes to the desired channel
        await self.bus.start(timeout=connect_timeout)
        # A separate cloud broker that is down must not stop the edge from serving its home.
        await self.uplink_bus.start(timeout=connect_timeout if self.settings.uplink.mqtt is None else None)
        await asyncio.to_thread(self.template.warm_up)
        await asyncio.to_thread(self.model.reload_if_changed)
        self.metrics.set_model_version(self.model.status().version)
        self._warm = True
        log.info("edge started", extra={"edge_id": self.settings.edge_id, "devices": len(self.registry)})

    def _topic(self, channel: EdgeChannel) -> str:
        return edge_topic(self.settings.edge_id, channel)

    async def run(self) -> None:
        """Route messages (and serve HTTP) until cancelled."""
        async with asyncio.TaskGroup() as group:
            if self.http is not None:
                group.create_task(self.http.run())
            group.create_task(self.router.route(self.bus))
            group.create_task(self.router.route(self.uplink_bus))
            group.create_task(self.models.watch(self.settings.model_poll_s))
            group.create_task(self.load.run())
            if self.fallback is not None and self.settings.cloud.offline_policy == "queue":
                group.create_task(self.front_door.drain_cloud_queue(self.fallback,
                                                                    self.settings.cloud.breaker.open_s / 2))
            group.create_task(self.uplink.run())

    async def stop(self) -> None:
        """Finish in-flight requests, disconnect, close every file."""
        await self.front_door.finish(timeout=self.settings.confirm_timeout_s + 1)
        await self.events.finish(timeout=5)
        await self.ingest.reports_stored(timeout=5)  # their messages are acknowledged once stored
        if self.http is not None:
            self.http.stop()
        await self.uplink.stop()
        for client in (self.cloud, self._fetcher):
            if client is not None:
                await client.aclose()
        await self.uplink_bus.stop()
        await self.bus.stop()
        for owner in (self.fallback, self.uplink.outbox, self.cache):
            if owner is not None:
                await asyncio.to_thread(owner.close)
        await self.store.close()

    @property
    def http_port(self) -> int | None:
        """The port the HTTP surface listens on, once it does."""
        return self.http.port if self.http is not None else None

    def readiness(self) -> dict[str, bool]:
        """What /readyz requires. A missing model is degraded, not unready: templates still serve."""
        return {"mqtt": self.bus.connected, "intent_templates": self._warm}  # the uplink may be down: still ready

    def degraded(self) -> dict[str, str]:
        """Parts running in a reduced mode, with the reason (shown by /readyz)."""
        status = self.model.status()
        return {"intent_model": status.error} if status.version is None and status.error else {}

    async def handle(self, message: Message) -> None:
        """Route one inbound message (what the routing loops do for each)."""
        await self.router.handle(message)

    # callbacks from the parts: metrics, and events for the cloud
    async def _model_changed(self) -> None:
        self.metrics.set_model_version(self.model.status().version)
        if self.cache is not None:  # entries of the old model can no longer match: free their space
            await asyncio.to_thread(self.cache.invalidate_versions, self.pipeline.versions())

    def _on_breaker(self, old: BreakerState, new: BreakerState) -> None:
        self.metrics.breaker_changed(new.value)
        self.events.breaker_changed(old.value, new.value)

    def _on_alert(self, alert: Alert) -> None:
        self.metrics.alerts.labels(alert.rule).inc()
        self.events.alert(alert)

    def _on_uplink_connection(self, connected: bool) -> None:
        self.metrics.uplink_connected.set(1 if connected else 0)
        self.uplink.connection_changed(connected)


async def run_daemon(settings: EdgeSettings, safeguards: Safeguards | None = None) -> None:
    """Start and run an edge until cancelled (Ctrl-C)."""
    daemon = EdgeDaemon(settings, safeguards=safeguards)
    await daemon.start()
    # This process is the edge and nothing else: the long-lived objects made at start (templates, model, registry)
    # leave the collector's view, so full collections no longer walk them (tens of ms each, in the latency tail).
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    try:
        await daemon.run()
    finally:
        with contextlib.suppress(Exception):
            await daemon.stop()
        log.info("edge stopped", extra={"uptime_s": round(time.perf_counter() - started, 1)})
