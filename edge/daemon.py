"""Composition root of the edge: builds every part, routes MQTT messages, runs until stopped."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import hashlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

import uvicorn

from edge.config import Action, EdgeSettings
from edge.decision.fallback import Fallback
from edge.decision.intents import IntentHandlers
from edge.decision.model_stage import ModelStage
from edge.decision.pipeline import Pipeline
from edge.decision.plan_runner import LocalPlanRunner
from edge.decision.replies import render
from edge.decision.template_stage import TemplateStage
from edge.devices.entity import Entity
from edge.devices.executor import Executor
from edge.devices.registry import Registry
from edge.devices.twins import Twins
from edge.guard.activity import ActivityEvent
from edge.guard.admission import Admission, ShedError
from edge.guard.confirmations import ConfirmationError, Confirmations
from edge.guard.monitor import Alert, Monitor
from edge.guard.policy import AdmissionPolicy, mentioned_domains
from edge.io.breaker import BreakerState
from edge.io.cloud_client import CloudClient
from edge.io.decision_cache import DecisionCache
from edge.io.http import create_app
from edge.io.load import SystemLoad
from edge.io.metrics import EdgeMetrics
from edge.io.model_rollout import HttpFetcher, ModelRollout, active_dir
from edge.io.mqtt import Message, PahoBus
from edge.io.outbox import Outbox
from edge.io.store import EdgeStore, StoredDevice
from edge.uplink.twin_sync import Uplink
from shared.codec import decode, encode, parse_json, validate
from shared.decision import Decision, Outcome, Utterance
from shared.discovery import COMPONENTS, DiscoveryConfig, parse_discovery
from shared.envelope import Envelope
from shared.errors import AutoGLMError, PayloadError, StorageError, TopicError
from shared.payloads import DeviceErrorEvent
from shared.rollout import ACTIVATED_EVENT, ORDER_TYPE, REJECTED_EVENT, ModelOrder
from shared.topics import EdgeChannel, discovery_filters, edge_topic, parse_discovery_topic

log = logging.getLogger(__name__)

#: Event type published on the edge's events channel when the cloud breaker changes state.
BREAKER_EVENT = "edge.cloud_breaker"
#: Event type of a behaviour-monitor alert (a burst, a held sensitive sequence or unusual unlock).
ALERT_EVENT = "edge.alert"
#: Event type of a `notify` step of a cloud plan the edge replayed while the cloud was away.
NOTIFY_EVENT = "edge.notify"
#: Event type of a decision record sent to the cloud (who, what, where, source, outcome, trace_id).
DECISION_EVENT = "edge.decision"
#: State messages whose reports may wait for the outbox at once before the router waits for the oldest.
ACK_BEHIND = 1000


class EdgeDaemon:
    """One gateway's daemon. `await start()`, then `await run()` (or use `serve()`)."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        self.metrics = EdgeMetrics()
        self.store = EdgeStore(settings.db_path)
        self.registry = Registry(settings.area_aliases, settings.name_aliases)
        self.twins = Twins(self.store)
        status_topic = edge_topic(settings.edge_id, EdgeChannel.STATUS)
        self.bus = PahoBus(settings.mqtt, settings.client_id, on_connection_change=self._on_connection)
        # The uplink has a connection of its own (to the cloud's broker, or the local one when none is set): the
        # last will says "offline" when the link to the cloud breaks, and a cloud broker that is down never
        # slows the local devices.
        self.uplink_bus = PahoBus(settings.uplink.mqtt or settings.mqtt, settings.uplink_client_id,
                                  will=(status_topic, encode({"state": "offline", "edge_id": settings.edge_id})),
                                  birth=(status_topic, encode({"state": "online", "edge_id": settings.edge_id})),
                                  on_connection_change=self._on_uplink_connection)
        self.template = TemplateStage(self.registry, settings.languages)
        self.handlers = IntentHandlers(self.registry, self.twins.values)
        self.executor = Executor(self.bus, self.twins, timeout_s=settings.confirm_timeout_s,
                                 slow_timeout_s=max(settings.confirm_timeout_s, 30.0))
        # A version rolled out from the cloud (<data_dir>/models/active.json) outlives a restart.
        self.model = ModelStage(self.registry, active_dir(settings.models_root) or settings.model_dir,
                                threads=settings.model_threads)
        self._fetcher: HttpFetcher | None = None
        if settings.cloud.url is not None and settings.cloud.token is not None:
            self._fetcher = HttpFetcher(settings.cloud.url, settings.cloud.token,
                                        timeout_s=settings.model_download_timeout_s)
        self.rollout = ModelRollout(settings.models_root, self.model, self._fetcher,
                                    keep=settings.model_versions_kept, on_outcome=self._on_model_outcome)
        self._models_topic = edge_topic(settings.edge_id, EdgeChannel.MODELS)
        self.uplink = Uplink(settings.edge_id, self.uplink_bus, self.registry, self.twins, self.store, self.executor,
                             heartbeat_s=settings.uplink.heartbeat_s, outbox_batch=settings.uplink.outbox_batch)
        self.uplink.on_storage_error = lambda _exc: self.metrics.storage_errors.labels("uplink").inc()
        self.load = SystemLoad(settings.policy)
        self.policy = AdmissionPolicy(settings.policy, self.load)
        self.admission = Admission(settings.policy.queue_concurrency, settings.policy.queue_max_waiting)
        self.cache: DecisionCache | None = None
        self.cloud: CloudClient | None = None
        if settings.cloud.url is not None:
            self.cloud = CloudClient(settings.cloud, settings.edge_id, on_state_change=self._on_breaker)
        self._on_breaker(BreakerState.CLOSED, BreakerState.CLOSED)
        self.monitor = Monitor(settings.monitor, on_alert=self._on_alert)
        self.confirmations = Confirmations(settings.confirmation_ttl_s)
        self.fallback: Fallback | None = None
        self.pipeline = Pipeline(settings.edge_id, self.registry, self.template, self.handlers, self.executor,
                                 self.model, monitor=self.monitor)
        self._utterance_topic = edge_topic(settings.edge_id, EdgeChannel.UTTERANCES)
        self._decision_topic = edge_topic(settings.edge_id, EdgeChannel.DECISIONS)
        self._subscribed: set[str] = set()
        self._slots = asyncio.Semaphore(settings.max_concurrent_utterances)
        self._tasks: set[asyncio.Task[None]] = set()
        # state messages whose reports are on their way into the outbox, with their tasks, in arrival order
        self._storing: collections.deque[tuple[asyncio.Task[None], Message]] = collections.deque()
        self._warm = False
        self._http: uvicorn.Server | None = None
        self.http_port: int | None = None

    # lifecycle
    async def start(self, connect_timeout: float | None = None) -> None:
        """Open the store, restore the registry and twins, connect, warm the matcher."""
        await self.store.open()
        if self.settings.cache.enabled:
            path = self.settings.data_dir / "decisions.db"
            try:
                self.cache, _ = await asyncio.to_thread(DecisionCache.open_or_rebuild, path, self.twins.values,
                                                        self.settings.cache)
                self.pipeline.use_cache(self.cache)
            except StorageError as exc:  # only slower without it; the file is left for inspection
                log.error("decision cache unusable, running without it: %s (delete %s to start afresh)", exc, path)
        for row in await self.store.devices():
            try:
                entity = Entity.from_config(validate(DiscoveryConfig, row.config), row.discovery_topic)
            except PayloadError as exc:
                log.warning("stored device config no longer valid; waiting for rediscovery",
                            extra={"device_id": row.device_id, "error": str(exc)})
                continue
            entity.available = row.available
            self.registry.put(entity)
        await self.twins.load()
        self._update_device_gauges()
        for topic_filter in (*discovery_filters(self.settings.discovery_prefix), self._utterance_topic):
            await self.bus.subscribe(topic_filter)
        await self._sync_subscriptions()
        if self.cloud is not None:
            queue = None
            if self.settings.cloud.offline_policy == "queue":  # durable: queued requests outlive a restart
                queue = await asyncio.to_thread(Outbox, self.settings.data_dir / "cloud_requests.db",
                                                max_messages=self.settings.cloud.queue_max)
            self.fallback = Fallback(self.cloud, queue=queue, expiry_s=self.settings.cloud.queue_expiry_s,
                                     plans=self.pipeline if self.cache is not None else None)
            runner = LocalPlanRunner(self.registry, self.twins, self.executor, self._notify)
            self.pipeline.use_fallback(self.fallback, runner)
        if self.settings.uplink.outbox:
            self.uplink.outbox = await asyncio.to_thread(Outbox, self.settings.data_dir / "outbox.db",
                                                         max_messages=self.settings.uplink.outbox_max,
                                                         on_drop=self.metrics.outbox_dropped.inc)
            self.metrics.outbox.set_function(self.uplink.outbox.__len__)
        await self.uplink_bus.subscribe(self._models_topic)  # retained: the latest order arrives on connect
        await self.uplink.start()
        await self.bus.start(timeout=connect_timeout)
        # A separate cloud broker that is down must not stop the edge from serving its home.
        await self.uplink_bus.start(timeout=connect_timeout if self.settings.uplink.mqtt is None else None)
        await asyncio.to_thread(self.template.warm_up)
        await asyncio.to_thread(self.model.reload_if_changed)
        self.metrics.set_model_version(self.model.status().version)
        self._warm = True
        log.info("edge started", extra={"edge_id": self.settings.edge_id, "devices": len(self.registry)})

    async def run(self) -> None:
        """Route messages (and serve HTTP) until cancelled."""
        async with asyncio.TaskGroup() as group:
            if self.settings.http.enabled:
                group.create_task(self._serve_http())
            group.create_task(self._route(self.bus))
            group.create_task(self._route(self.uplink_bus))
            group.create_task(self._watch_model())
            group.create_task(self.load.run())
            if self.fallback is not None and self.settings.cloud.offline_policy == "queue":
                group.create_task(self._drain_cloud_queue(self.fallback))
            group.create_task(self.uplink.run())

    async def stop(self) -> None:
        """Finish in-flight utterances, disconnect, close the store."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.settings.confirm_timeout_s + 1)
        if self._storing:  # reports on their way into the outbox: their messages are acknowledged when stored
            await asyncio.wait([task for task, _ in self._storing], timeout=5)
        if self._http is not None:
            self._http.should_exit = True
        await self.uplink.stop()
        if self.cloud is not None:
            await self.cloud.aclose()
        if self._fetcher is not None:
            await self._fetcher.aclose()
        if self.fallback is not None:
            await asyncio.to_thread(self.fallback.close)
        await self.uplink_bus.stop()
        await self.bus.stop()
        if self.uplink.outbox is not None:
            await asyncio.to_thread(self.uplink.outbox.close)
        if self.cache is not None:
            await asyncio.to_thread(self.cache.close)
        await self.store.close()

    def readiness(self) -> dict[str, bool]:
        """What /readyz requires. A missing model is degraded, not unready: templates still serve."""
        return {"mqtt": self.bus.connected, "intent_templates": self._warm}  # the uplink may be down: still ready

    def degraded(self) -> dict[str, str]:
        """Parts running in a reduced mode, with the reason (shown by /readyz)."""
        status = self.model.status()
        return {"intent_model": status.error} if status.version is None and status.error else {}

    async def _watch_model(self) -> None:
        """Hot-reload: pick up a new or repaired model directory without a restart."""
        while True:
            await asyncio.sleep(self.settings.model_poll_s)
            if await asyncio.to_thread(self.model.reload_if_changed):
                log.info("intent model active", extra={"version": self.model.status().version})
                await self._model_changed()

    async def _model_changed(self) -> None:
        self.metrics.set_model_version(self.model.status().version)
        if self.cache is not None:  # entries of the old model can no longer match: free their space
            await asyncio.to_thread(self.cache.invalidate_versions, self.pipeline.versions())

    def _on_model_outcome(self, outcome: str, version: str | None) -> None:
        self.metrics.model_rollouts.labels(outcome).inc()
        self.metrics.set_model_version(version)

    async def _handle_model_order(self, order: ModelOrder, envelope: Envelope, message: Message) -> None:
        """Carry out a roll-out order off the routing loop; acknowledged once done (a crash gets it again)."""
        try:
            result = await self.rollout.handle(order, envelope.id)
            if result is not None:
                if result.changed:
                    await self._model_changed()
                await self.uplink.event(REJECTED_EVENT if result.reason else ACTIVATED_EVENT,
                                        result.model_dump(mode="json"), envelope.trace_id)
        except Exception:  # the daemon stays up whatever one order does
            log.exception("model order failed", extra={"trace_id": envelope.trace_id, "order_id": envelope.id})
        finally:
            message.ack()

    async def _serve_http(self) -> None:
        app = create_app(self.metrics, self.readiness, self.describe_devices, self.degraded, self.confirm)
        config = uvicorn.Config(app, host=self.settings.http.host, port=self.settings.http.port,
                                log_config=None, access_log=False, lifespan="off")
        self._http = uvicorn.Server(config)
        serve = asyncio.create_task(self._http.serve())
        while not self._http.started and not serve.done():  # noqa: ASYNC110 - uvicorn exposes no started event
            await asyncio.sleep(0.02)
        if self._http.servers:
            self.http_port = self._http.servers[0].sockets[0].getsockname()[1]
            log.info("edge http listening", extra={"port": self.http_port})
        try:
            await serve
        finally:
            self._http.should_exit = True

    def describe_devices(self) -> list[dict[str, Any]]:
        """Devices with area, availability and reported state, for /v1/devices."""
        return [{"device_id": e.device_id, "name": e.name, "domain": e.domain, "area": e.area,
                 "available": e.available, "state": self.twins.values(e.device_id)}
                for e in self.registry.entities()]

    def _on_breaker(self, old: BreakerState, new: BreakerState) -> None:
        for state in BreakerState:
            self.metrics.cloud_breaker.labels(state.value).set(1 if state is new else 0)
        if old is not new:
            log.warning("cloud circuit breaker %s -> %s", old.value, new.value,
                        extra={"event": "cloud_breaker", "from": old.value, "to": new.value})
            self._spawn(self.uplink.event(BREAKER_EVENT, {"from": old.value, "to": new.value}))

    def _on_alert(self, alert: Alert) -> None:
        self.metrics.alerts.labels(alert.rule).inc()
        log.warning("behaviour alert: %s", alert.reason, extra={"event": "alert", "rule": alert.rule,
                                                                  "trace_id": alert.trace_id})
        self._spawn(self.uplink.event(ALERT_EVENT, alert.model_dump(mode="json"), alert.trace_id))

    def _on_connection(self, connected: bool) -> None:
        self.metrics.mqtt_connected.set(1 if connected else 0)
        if not connected:
            self.metrics.mqtt_reconnects.inc()

    def _on_uplink_connection(self, connected: bool) -> None:
        self.metrics.uplink_connected.set(1 if connected else 0)
        self.uplink.connection_changed(connected)

    # routing
    async def _route(self, bus: PahoBus) -> None:
        async for message in bus.messages():
            await self.handle(message)

    async def handle(self, message: Message) -> None:
        """Dispatch one inbound message; a bad one is counted, logged and acknowledged, never raised."""
        try:
            await self._dispatch(message)
        except (PayloadError, TopicError) as exc:
            self._bad(message, "payload", exc)
            message.ack()
        except StorageError as exc:
            # Not redelivered: an unacknowledged message would hold the broker's in-flight window and stall every
            # device while the disk is full. The twin keeps the value in memory; the device's next report stores it.
            self._storage_failed("message", exc, topic=message.topic)
            message.ack()
        except AutoGLMError as exc:
            self._bad(message, "handling", exc)
            message.ack()

    def _storage_failed(self, what: str, exc: StorageError, **extra: Any) -> None:
        self.metrics.storage_errors.labels(what).inc()
        log.error("not stored: %s", exc, extra={"event": "storage_error", "what": what, **extra})

    def _bad(self, message: Message, kind: str, exc: AutoGLMError) -> None:
        self.metrics.bad_messages.labels(kind, exc.code).inc()
        log.warning("message rejected", extra={"topic": message.topic, "reason": str(exc), "code": exc.code,
                                               "bytes": len(message.payload)})

    async def _dispatch(self, message: Message) -> None:
        topic = message.topic
        if topic == self._utterance_topic:
            self.metrics.messages.labels("utterance").inc()
            utterance = self._parse_utterance(message.payload)
            self._spawn(self._handle_utterance(utterance, message))
            return
        if topic == self._models_topic:
            self.metrics.messages.labels("model_order").inc()
            if not message.payload:  # the cloud cleared its retained order
                message.ack()
                return
            envelope = decode(Envelope, message.payload)
            if envelope.type != ORDER_TYPE:
                raise PayloadError(f"models channel carries {ORDER_TYPE!r}, not {envelope.type!r}", field="type")
            self._spawn(self._handle_model_order(validate(ModelOrder, envelope.payload), envelope, message))
            return
        if topic == self.uplink.desired_topic:
            self.metrics.messages.labels("twin").inc()
            await self.uplink.handle(message.payload)
            message.ack()
            return
        if topic.startswith(self.settings.discovery_prefix + "/") and topic.endswith("/config"):
            self.metrics.messages.labels("discovery").inc()
            await self._handle_discovery(topic, message.payload)
        elif bindings := self.registry.state_bindings(topic):
            self.metrics.messages.labels("state").inc()
            reports: list[Coroutine[Any, Any, None]] = []
            for entity, binding in bindings:
                values = entity.parse(binding, message.payload)
                if not values:
                    continue
                mark = _mark(message, entity.device_id)
                if message.dup and mark is not None and await self.store.applied(mark):
                    # Applied before a stop, its report perhaps not queued (state messages are acknowledged only
                    # once their reports are stored, and several may be pending): not a new change. The device's
                    # committed values go up again under their versions, never this older message's values.
                    rows = [r for r in await self.store.twin(entity.device_id)
                            if r.prop in values and r.reported_version > 0]
                    changed = {r.prop: r.reported_version for r in rows}
                    values = {r.prop: r.reported for r in rows}
                    if changed:
                        reports.append(self.uplink.reported(entity.device_id, values, changed))
                    continue
                changed = await self.twins.report(entity.device_id, values, mark)
                if not changed and message.dup:
                    # A redelivery that changes nothing: the edge may have stopped after committing the change and
                    # before queueing its report, so it is reported again under its committed versions (the cloud
                    # ignores a version it has).
                    changed = {r.prop: r.reported_version for r in await self.store.twin(entity.device_id)
                               if r.prop in values and r.reported_version > 0}
                    values = {prop: values[prop] for prop in changed}
                if changed:
                    reports.append(self.uplink.reported(entity.device_id, values, changed))
            if reports:
                await self._ack_when_stored(reports, message)
                return
        elif entities := self.registry.availability_entities(topic):
            self.metrics.messages.labels("availability").inc()
            await self._handle_availability(topic, entities, message.payload)
        elif failed := self.registry.error_entity(topic):
            self.metrics.messages.labels("device_error").inc()
            event = decode(DeviceErrorEvent, message.payload)
            log.warning("device rejected a command", extra={"device_id": failed.device_id, "error": event.error})
            self.twins.fail(failed.device_id, Outcome.REJECTED, event.error)
        else:
            raise TopicError(f"no handler for topic {topic!r}")
        message.ack()

    async def _ack_when_stored(self, reports: list[Coroutine[Any, Any, None]], message: Message) -> None:
        """Acknowledge `message` once its reports to the cloud are in the outbox, without holding the router.

        The twin is committed already; the reports wait for the outbox's next group commit while the router goes on
        (a crash before the commit leaves the message unacknowledged: the broker redelivers it and the report is
        made again). Acknowledgements keep arrival order; past ACK_BEHIND waiting messages the router waits.
        """
        task = asyncio.get_running_loop().create_task(self._reports(reports))
        self._storing.append((task, message))
        task.add_done_callback(lambda _t: self._ack_stored())
        while len(self._storing) > ACK_BEHIND:
            await asyncio.wait({self._storing[0][0]})

    async def reports_stored(self) -> None:
        """Wait until the reports of every state message handled so far are in the outbox (and acknowledged)."""
        while self._storing:
            await asyncio.wait([task for task, _ in self._storing])

    async def _reports(self, reports: list[Coroutine[Any, Any, None]]) -> None:
        for report in reports:
            try:
                await report
            except Exception:  # a defect: logged; the message is acknowledged all the same (never a stuck window)
                log.exception("report to the cloud failed")

    def _ack_stored(self) -> None:
        """Acknowledge, in arrival order, every message whose reports are stored."""
        while self._storing and self._storing[0][0].done():
            self._storing.popleft()[1].ack()

    def _parse_utterance(self, payload: bytes) -> Utterance:
        data = parse_json(payload) if payload.lstrip()[:1] == b"{" else None
        if data is None:  # a satellite may send plain text
            try:
                text = payload.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise PayloadError("utterance is not valid UTF-8") from None
            return validate(Utterance, {"text": text, "source": "mqtt"})
        if isinstance(data, dict) and "payload" in data and "type" in data:
            envelope = validate(Envelope, data)
            return validate(Utterance, {**envelope.payload, "trace_id": envelope.trace_id})
        return validate(Utterance, data)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle_utterance(self, utterance: Utterance, message: Message) -> None:
        async with self._slots:
            decision = await self._decide(utterance)
            await self._record(decision)
            message.ack()

    async def confirm(self, token: str) -> Decision:
        """Run a held request confirmed (`POST /v1/confirmations/{token}`); ConfirmationError for a bad token."""
        held = self.confirmations.redeem(token)
        async with self._slots:
            decision = await self._decide(held)
            await self._record(decision)
        return decision

    async def _decide(self, utterance: Utterance) -> Decision:
        """Confirmation token, admission policy, pipeline, behaviour monitor: the decision for one utterance."""
        extra = {"trace_id": utterance.trace_id, "edge_id": self.settings.edge_id}
        log.info("utterance", extra={**extra, "text": utterance.text})
        asked_by = utterance
        if utterance.confirm_token is not None:  # "yes" to a held request: replay it, confirmed
            try:
                utterance = self.confirmations.redeem(utterance.confirm_token).model_copy(
                    update={"id": asked_by.id})  # the answer goes to whoever confirmed
            except ConfirmationError as exc:
                return self._refusal(asked_by, Outcome.ERROR, f"{exc}")
        verdict = self.policy.decide(utterance.user, mentioned_domains(utterance.text), utterance.source)
        try:
            if verdict.action is Action.SHED:
                raise ShedError(verdict.priority, "load")
            if verdict.action is Action.QUEUE:
                async with self.admission.slot(verdict.priority, verdict.wait_s):
                    decision = await self.pipeline.handle(utterance)
            else:
                decision = await self.pipeline.handle(utterance)
            self.load.record_latency(decision.latency_ms)
        except ShedError as exc:
            decision = self._refusal(utterance, Outcome.BUSY, render(utterance.language or "en", "busy"))
            log.warning("request shed", extra={**extra, "rule": verdict.rule, "reason": str(exc)})
        except Exception as exc:  # the daemon stays up whatever one request does
            log.exception("pipeline failed", extra=extra)
            decision = self._refusal(utterance, Outcome.ERROR, f"internal error: {type(exc).__name__}")
        decision.policy_rule = verdict.rule
        decision.user = utterance.user
        if decision.outcome is Outcome.NEEDS_CONFIRMATION:
            decision.confirm_token = self.confirmations.issue(utterance, plan_id=decision.plan_id,
                                                              plan_digest=decision.plan_digest)
            decision.confirm_ttl_s = self.confirmations.ttl_s
        self.monitor.observe(ActivityEvent.from_decision(decision, utterance, utterance.user or "unknown"))
        return decision

    async def _drain_cloud_queue(self, fallback: Fallback) -> None:
        """Run requests queued while the cloud was away, in order, once it answers again."""
        while True:
            await asyncio.sleep(self.settings.cloud.breaker.open_s / 2)
            try:
                for utterance, answer in await fallback.drain():
                    decision = self._refusal(utterance, answer.outcome, answer.reply)
                    decision.source, decision.plan_id = answer.source, answer.plan_id
                    await self._record(decision)
            except AutoGLMError as exc:
                log.warning("cloud queue not drained", extra={"error": str(exc)})

    async def _notify(self, message: str, trace_id: str) -> None:
        """A plan's `notify` step run at the edge: an event for the cloud (through the outbox) and a log line."""
        log.info("notify: %s", message, extra={"trace_id": trace_id, "event": "notify"})
        await self.uplink.event(NOTIFY_EVENT, {"message": message}, trace_id)

    def _refusal(self, utterance: Utterance, outcome: Outcome, reply: str) -> Decision:
        return Decision(utterance_id=utterance.id, trace_id=utterance.trace_id, edge_id=self.settings.edge_id,
                        text=utterance.text, language=utterance.language or "en", outcome=outcome, reply=reply,
                        latency_ms=0.0)

    async def _record(self, decision: Decision) -> None:
        source = decision.source.value if decision.source else "none"
        self.metrics.decisions.labels(source, decision.outcome.value).inc()
        self.metrics.decision_latency.labels(source).observe(decision.latency_ms / 1000)
        for action in decision.actions:
            if action.latency_ms is not None and action.outcome is not None:
                self.metrics.command_latency.labels(action.domain, action.outcome.value).observe(
                    action.latency_ms / 1000)
        try:
            await self.store.add_decision(decision)
        except StorageError as exc:  # the answer and the command matter more than the local record of them
            self._storage_failed("decision", exc, trace_id=decision.trace_id)
        record = decision.model_dump(mode="json")
        envelope = Envelope(trace_id=decision.trace_id, source=f"edge:{self.settings.edge_id}", type="decision",
                            payload=record)
        # The answer goes out once the local record is kept, before the cloud's copy: that copy's outbox commit (an
        # fsync) is bookkeeping the user need not wait for. The utterance is acknowledged only after both.
        try:
            await self.bus.publish(self._decision_topic, encode(envelope), qos=1)
        except AutoGLMError as exc:
            log.warning("decision not published", extra={"trace_id": decision.trace_id, "error": str(exc)})
        # the cloud's copy goes through the outbox: it survives an outage and an edge restart
        await self.uplink.event(DECISION_EVENT, record, decision.trace_id)
        log.info("decision", extra={"trace_id": decision.trace_id, "edge_id": self.settings.edge_id,
                                    "outcome": decision.outcome.value, "source": source,
                                    "latency_ms": decision.latency_ms, "reply": decision.reply})

    async def _handle_discovery(self, topic: str, payload: bytes) -> None:
        parsed = parse_discovery_topic(topic, self.settings.discovery_prefix)
        if parsed.component not in COMPONENTS:
            self.metrics.bad_messages.labels("discovery", "unsupported_component").inc()
            log.debug("ignoring unsupported component", extra={"topic": topic})
            return
        config = parse_discovery(parsed.component, payload)
        if config is None:
            for entity in [e for e in self.registry.entities() if e.discovery_topic == topic]:
                self.registry.remove(entity.device_id)
                self.twins.drop(entity.device_id)
                await self.store.remove_device(entity.device_id)
                log.info("device removed", extra={"device_id": entity.device_id})
        else:
            entity = Entity.from_config(config, topic)
            self.registry.put(entity)
            await self.store.upsert_device(StoredDevice(
                entity.device_id, entity.domain, config.model_dump(by_alias=True, exclude_none=True), topic,
                entity.available))
            log.info("device discovered", extra={"device_id": entity.device_id, "device_name": entity.name,
                                                 "area": entity.area, "domain": entity.domain})
        await self._sync_subscriptions()
        self._update_device_gauges()

    async def _handle_availability(self, topic: str, entities: list[Entity], payload: bytes) -> None:
        text = payload.decode("utf-8", errors="replace").strip()
        for entity in entities:
            item = next(i for i in entity.config.availability_topics() if i.topic == topic)
            if text not in (item.payload_available, item.payload_not_available):
                raise PayloadError(f"availability must be {item.payload_available!r} or "
                                   f"{item.payload_not_available!r}, got {text[:40]!r}", field="availability")
            available = text == item.payload_available
            if entity.available != available:
                entity.available = available
                await self.store.set_available(entity.device_id, available)
                log.info("availability", extra={"device_id": entity.device_id, "available": available})
            if not available:
                self.twins.fail(entity.device_id, Outcome.UNAVAILABLE, "device went offline")
        self._update_device_gauges()

    async def _sync_subscriptions(self) -> None:
        wanted = self.registry.topics()
        for topic in wanted - self._subscribed:
            await self.bus.subscribe(topic)
        for topic in self._subscribed - wanted:
            await self.bus.unsubscribe(topic)
        self._subscribed = wanted

    def _update_device_gauges(self) -> None:
        entities = self.registry.entities()
        self.metrics.devices.set(len(entities))
        self.metrics.devices_available.set(sum(1 for e in entities if e.available))


def _mark(message: Message, device_id: str) -> str | None:
    """What names one QoS 1 state message for one device across a redelivery (None when nothing can)."""
    if message.qos == 0 or not message.mid:
        return None
    digest = hashlib.blake2b(message.payload, digest_size=8).hexdigest()
    return f"{message.topic}\x1f{message.mid}\x1f{digest}\x1f{device_id}"


async def run_daemon(settings: EdgeSettings) -> None:
    """Start and run an edge until cancelled (Ctrl-C)."""
    daemon = EdgeDaemon(settings)
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
