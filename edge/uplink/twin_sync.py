"""The edge's side of the twin sync: reported deltas up, desired deltas and commands down, full re-sync.

Over 300 lines: both directions of the sync and the outbox delivery they share (group commit, drain, overflow report).

Every message is an Envelope; ids are de-duplicated, desired values carry the cloud's versions and lower or
equal versions are dropped. A desired value is stored (the edge's `desired` column) before the message is
acknowledged; a full desired document re-applies only values this edge has not accepted before, so a device
changed by hand keeps its state (the device wins on reported) unless the cloud set something new.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from edge.devices.desired import desired_commands
from edge.devices.entity import Command, Entity, satisfied
from edge.devices.executor import Executor, outcome_of
from edge.devices.registry import Registry
from edge.devices.twins import Twins
from edge.ports import Bus, DroppedReport, Message, MessageQueue, TwinStore
from shared.codec import decode, encode, validate
from shared.decision import Outcome
from shared.envelope import Envelope, utcnow
from shared.errors import AutoGLMError, PayloadError, StorageError, TransportError, UnknownDeviceError
from shared.sync import ApplyResult, DeviceCommand, DeviceInfo, EdgeEvent, EdgeStatus, FullTwin, SyncType
from shared.topics import EdgeChannel, edge_topic
from shared.twin import TwinDelta, TwinValue

log = logging.getLogger(__name__)

#: Devices per full-document message, so a large home stays under the codec's payload limit.
FULL_CHUNK = 50
#: Messages one outbox transaction takes from the group-commit queue.
GROUP_COMMIT_MAX = 500
#: Messages waiting for the outbox's next commit at once; past it a sender waits for room (backpressure).
MAX_PENDING_PUTS = 10_000
#: Desired changes and commands being applied at once; past it the uplink's router waits for one to finish.
MAX_APPLYING = 1000


class Uplink:
    """Keeps this edge's twins in step with the cloud over the bus."""

    def __init__(self, edge_id: str, bus: Bus, registry: Registry, twins: Twins, store: TwinStore,
                 executor: Executor, *, heartbeat_s: float = 30.0, seen_ids: int = 4096,
                 outbox: MessageQueue | None = None, outbox_batch: int = 200,
                 on_storage_error: Callable[[StorageError], None] | None = None,
                 check_versions: bool = True, check_expiry: bool = True) -> None:
        """`check_versions` and `check_expiry` are safeguards that only a negative control switches off: without
        them every desired value is applied whatever its version, and every command is run however late."""
        self._edge_id = edge_id
        self._bus = bus
        self._registry = registry
        self._twins = twins
        self._store = store
        self._executor = executor
        self._heartbeat_s = heartbeat_s
        self._source = f"edge:{edge_id}"
        self.desired_topic = edge_topic(edge_id, EdgeChannel.TWIN_DESIRED)
        self._reported_topic = edge_topic(edge_id, EdgeChannel.TWIN_REPORTED)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_max = seen_ids
        self._versions: dict[tuple[str, str], int] = {}  # cloud desired version accepted per (device, prop)
        self._versions_loaded = False  # read from the store on first use: they outlive a restart
        self._announced: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # applies and results in flight: at most MAX_APPLYING
        self._put_room = asyncio.Semaphore(MAX_PENDING_PUTS)  # bounds _puts
        self.stats: Counter[str] = Counter()
        self.outbox = outbox
        self.outbox_batch = outbox_batch
        self.on_storage_error = on_storage_error
        self._check_versions = check_versions
        self._check_expiry = check_expiry
        self._queued = asyncio.Event()  # set when the outbox has something new or the bus came back
        self._puts: list[tuple[str, bytes, asyncio.Future[None]]] = []  # waiting for the outbox's next commit
        self._writer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe to the cloud's desired channel (before the bus connects)."""
        await self._bus.subscribe(self.desired_topic)

    async def run(self) -> None:
        """Publish heartbeats on the retained status topic and drain the outbox, until cancelled."""
        async with asyncio.TaskGroup() as group:
            if self.outbox is not None:
                group.create_task(self._drain(self.outbox))
            while True:
                await asyncio.sleep(self._heartbeat_s)
                if self._bus.connected:
                    await self._guard(self._heartbeat())

    async def _drain(self, outbox: MessageQueue) -> None:
        """Send queued messages in order; each leaves the outbox only after the broker's PUBACK."""
        while True:
            await self._queued.wait()
            self._queued.clear()
            if self._bus.connected:
                await self._report_dropped(outbox)
            while self._bus.connected:
                batch = await asyncio.to_thread(outbox.peek, self.outbox_batch)
                if not batch:
                    break
                # Pipelined: the batch goes out in order on one connection (paho keeps the order within its
                # in-flight window) instead of one PUBACK round trip per message; each message still leaves the
                # outbox only after its own PUBACK, and the batch's deletes share one commit.
                results = await asyncio.gather(*(self._bus.publish(p.topic, p.payload, qos=1) for p in batch),
                                               return_exceptions=True)
                sent = [(p.seq, p.topic) for p, result in zip(batch, results, strict=True) if result is None]
                if sent:
                    await asyncio.to_thread(outbox.ack_many, sent)
                    self.stats["sent"] += len(sent)
                failure = next((r for r in results if r is not None), None)
                if isinstance(failure, TransportError):  # the bus went away: wait for the reconnect, keep the rest
                    log.info("outbox paused", extra={"queued": len(outbox), "reason": str(failure)})
                    break
                if failure is not None:
                    raise failure

    async def _report_dropped(self, outbox: MessageQueue) -> None:
        """Tell the cloud what the overflow policy dropped (once its broker has the report, forget those drops)."""
        report: DroppedReport | None = await asyncio.to_thread(outbox.dropped_report)
        if report is None:
            return
        payload = {"dropped": report.count, "by_topic": report.by_topic, "policy": "drop_oldest",
                   "outbox_max": outbox.max_messages}
        # the id names the drops, so a report re-sent after a crash is a duplicate the cloud drops
        envelope = Envelope(id=f"overflow-{self._edge_id}-{report.last_seq}"[:64], source=self._source,
                            type=EdgeEvent.OUTBOX_OVERFLOW, payload=payload)
        try:
            await self._bus.publish(edge_topic(self._edge_id, EdgeChannel.EVENTS), encode(envelope), qos=1)
        except TransportError as exc:  # the next reconnect tries again
            log.warning("outbox overflow not reported", extra={"reason": str(exc), **payload})
            return
        await asyncio.to_thread(outbox.clear_dropped, report)
        self.stats["dropped_reported"] += report.count
        log.warning("outbox overflow reported to the cloud", extra={"edge_id": self._edge_id, **payload})

    async def stop(self) -> None:
        """Let in-flight desired changes finish, then say `offline` (a clean disconnect sends no last will)."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._bus.connected:
            status = EdgeStatus(state="offline", edge_id=self._edge_id, ts=utcnow())
            await self._guard(self._bus.publish(edge_topic(self._edge_id, EdgeChannel.STATUS), encode(status),
                                                qos=1, retain=True))

    def connection_changed(self, connected: bool) -> None:
        """On every (re)connect: announce liveness, send the full reported document, ask for the desired one."""
        if connected:
            self._announced.clear()
            self._queued.set()
            self._spawn(self._guard(self._on_connected()))

    async def _on_connected(self) -> None:
        await self._heartbeat()
        await self.publish_full()
        await self._send(self._reported_topic, SyncType.RESYNC, {})

    async def _heartbeat(self) -> None:
        status = EdgeStatus(state="online", edge_id=self._edge_id, ts=utcnow(), heartbeat_s=self._heartbeat_s)
        await self._bus.publish(edge_topic(self._edge_id, EdgeChannel.STATUS), encode(status), qos=1, retain=True)

    # up: reported
    async def reported(self, device_id: str, values: dict[str, Any], versions: dict[str, int]) -> None:
        """Publish changed reported values with the edge's versions; a device new to the cloud goes as a full twin."""
        if device_id not in self._announced:
            await self._guard(self.publish_full(device_ids=[device_id]))
            return
        delta = TwinDelta(device_id=device_id, side="reported",
                          values={p: TwinValue(value=values[p], version=v) for p, v in versions.items() if p in values})
        await self._guard(self._send(self._reported_topic, SyncType.REPORTED, delta.model_dump(mode="json")))

    async def publish_full(self, trace_id: str | None = None, device_ids: list[str] | None = None) -> None:
        """Publish the reported side of every twin (or of `device_ids`) with device descriptions."""
        entities = [e for e in self._registry.entities() if device_ids is None or e.device_id in device_ids]
        rows = await self._store.twin(device_ids[0] if device_ids and len(device_ids) == 1 else None)
        reported: dict[str, dict[str, TwinValue]] = {}
        for row in rows:
            if row.reported_version > 0:
                reported.setdefault(row.device_id, {})[row.prop] = TwinValue(value=row.reported,
                                                                             version=row.reported_version)
        for start in range(0, max(len(entities), 1), FULL_CHUNK):
            chunk = entities[start:start + FULL_CHUNK]
            full = FullTwin(side="reported", devices=[_info(e) for e in chunk],
                            twins=[TwinDelta(device_id=e.device_id, side="reported", values=reported[e.device_id])
                                   for e in chunk if e.device_id in reported])
            await self._send(self._reported_topic, SyncType.REPORTED_FULL, full.model_dump(mode="json"), trace_id)
            self._announced.update(e.device_id for e in chunk)

    # down: desired, commands, re-sync requests
    async def receive(self, message: Message) -> None:
        """Handle one message from the cloud's desired channel, then acknowledge it (PayloadError if malformed)."""
        await self.handle(message.payload)
        message.ack()

    async def handle(self, payload: bytes) -> None:
        """Handle one message from the cloud; raises PayloadError for a malformed one."""
        while len(self._tasks) >= MAX_APPLYING:  # backpressure on the cloud's channel, never on the devices'
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        envelope = decode(Envelope, payload)
        if envelope.id in self._seen:
            self.stats["duplicate"] += 1
            return
        self._seen[envelope.id] = None
        if len(self._seen) > self._seen_max:
            self._seen.popitem(last=False)
        trace = envelope.trace_id
        if envelope.type == SyncType.DESIRED:
            delta = validate(TwinDelta, envelope.payload)
            if delta.side != "desired":
                raise PayloadError("the cloud may only send the desired side", field="side")
            await self._accept(delta, trace, full=False)
        elif envelope.type == SyncType.DESIRED_FULL:
            for delta in validate(FullTwin, envelope.payload).twins:
                await self._accept(delta, trace, full=True)
        elif envelope.type == SyncType.RESYNC:
            await self._guard(self.publish_full(trace))
        elif envelope.type == SyncType.COMMAND:
            command = validate(DeviceCommand, envelope.payload)
            if self._expired(command):
                late = (utcnow() - command.expires_at).total_seconds() if command.expires_at else 0.0
                self.stats["expired"] += 1
                log.warning("expired command refused", extra={"trace_id": trace, "device_id": command.device_id,
                                                              "command": command.command, "late_s": round(late, 1)})
                self._spawn(self._result(ApplyResult(
                    device_id=command.device_id, outcome=Outcome.EXPIRED,
                    detail=f"{command.command} not run: it expired {late:.1f}s before it reached the edge"), trace))
                return
            self._spawn(self._execute(command.device_id, None, [Command(command.command, command.value)], trace))
        else:
            self.stats["ignored"] += 1

    def _expired(self, command: DeviceCommand) -> bool:
        """Whether a command arrived after its expiry (the clocks of edge and cloud are assumed in step, NTP)."""
        return self._check_expiry and command.expires_at is not None and utcnow() >= command.expires_at

    async def _accept(self, delta: TwinDelta, trace_id: str, *, full: bool) -> None:
        device_id = delta.device_id
        entity = self._registry.get(device_id)
        if entity is None:
            self._spawn(self._result(ApplyResult(device_id=device_id, outcome=Outcome.UNKNOWN_DEVICE,
                                                 detail=f"edge {self._edge_id} has no device {device_id}"), trace_id))
            return
        if not self._versions_loaded:
            self._versions.update({k: v for k, v in (await self._store.accepted_versions()).items() if v > 0})
            self._versions_loaded = True
        stored = {r.prop: r.desired for r in await self._store.twin(device_id) if r.desired_version > 0}
        accepted: dict[str, Any] = {}
        versions: dict[str, int] = {}
        superseded: list[str] = []
        for prop, wanted in delta.values.items():
            known = self._versions.get((device_id, prop)) if self._check_versions else None
            if known is not None and wanted.version <= known:
                self.stats["stale"] += 1
                if wanted.version < known:  # older than what the edge has: a late re-sync or a re-sent delta
                    superseded.append(f"{prop} v{wanted.version} < v{known}")
                continue
            self._versions[(device_id, prop)] = versions[prop] = wanted.version
            if full and known is None and prop in stored and satisfied({prop: [wanted.value]}, stored):
                continue  # accepted before this restart: a later change on the device stands
            accepted[prop] = wanted.value
        if superseded:
            self.stats["superseded"] += len(superseded)
            log.info("stale desired values refused", extra={"trace_id": trace_id, "device_id": device_id,
                                                             "superseded": superseded})
            self._spawn(self._result(ApplyResult(
                device_id=device_id, outcome=Outcome.SUPERSEDED, props=[s.split(" ")[0] for s in superseded],
                detail=f"not applied, older than the desired versions already accepted: {', '.join(superseded)}"),
                trace_id))
        if not versions:
            return
        # values and versions committed together, before the message is acknowledged
        await self._store.apply_desired(device_id, accepted, versions)
        if not accepted:
            return
        self.stats["desired"] += len(accepted)
        previous = {p: stored.get(p) for p in accepted}
        self._spawn(self._execute(device_id, accepted, [], trace_id, previous))

    async def _execute(self, device_id: str, desired: dict[str, Any] | None, commands: list[Command],
                       trace_id: str, previous: dict[str, Any] | None = None) -> None:
        async with self._locks.setdefault(device_id, asyncio.Lock()):
            entity = self._registry.get(device_id)
            result = ApplyResult(device_id=device_id, outcome=Outcome.DONE, props=list(desired or {}))
            try:
                if entity is None:
                    raise UnknownDeviceError(f"edge {self._edge_id} has no device {device_id}")
                if desired is not None:
                    commands = desired_commands(entity, desired, self._twins.values(device_id))
                    result.detail = None if commands else "already in that state"
                for command in commands:
                    action = await self._executor.run(entity, command, trace_id=trace_id)
                    if action.outcome is not Outcome.DONE:
                        result.outcome, result.detail = (action.outcome or Outcome.ERROR).value, action.detail
                        break
            except AutoGLMError as exc:
                result.outcome, result.detail = outcome_of(exc).value, str(exc)
            if desired is not None and result.outcome != Outcome.DONE:  # not applied: the next re-sync tries again
                for prop in desired:
                    self._versions.pop((device_id, prop), None)
                await self._store.apply_desired(device_id, previous or {}, dict.fromkeys(desired, 0))
            log.info("desired applied" if desired is not None else "command applied",
                     extra={"trace_id": trace_id, "device_id": device_id, "outcome": result.outcome})
            await self._result(result, trace_id)

    async def event(self, kind: str, payload: dict[str, Any], trace_id: str | None = None) -> None:
        """Send an event of this edge to the cloud (through the outbox when there is one)."""
        await self._guard(self._send(edge_topic(self._edge_id, EdgeChannel.EVENTS), kind, payload, trace_id))

    async def _result(self, result: ApplyResult, trace_id: str) -> None:
        topic = edge_topic(self._edge_id, EdgeChannel.EVENTS)
        await self._guard(self._send(topic, SyncType.APPLIED, result.model_dump(mode="json"), trace_id))

    # plumbing
    async def _send(self, topic: str, kind: str, payload: dict[str, Any], trace_id: str | None = None) -> None:
        envelope = Envelope(source=self._source, type=str(kind), payload=payload,
                            **({"trace_id": trace_id} if trace_id else {}))
        if self.outbox is None:
            await self._bus.publish(topic, encode(envelope), qos=1)
            return
        # Group commit: messages queued while the outbox commits go in its next transaction, one fsync for them all,
        # so a burst of reports costs a few fsyncs, not one each. Each caller returns once its own message is in.
        async with self._put_room:
            await self._put(topic, encode(envelope))

    async def _put(self, topic: str, payload: bytes) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._puts.append((topic, payload, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_puts())
        await done

    async def _write_puts(self) -> None:
        """Commit what `_send` queued, in order, in batches; each future learns whether its message is stored."""
        while self._puts and self.outbox is not None:
            batch, self._puts = self._puts[:GROUP_COMMIT_MAX], self._puts[GROUP_COMMIT_MAX:]
            try:
                await asyncio.to_thread(self.outbox.put_many, [(topic, payload) for topic, payload, _ in batch])
            except Exception as exc:  # a StorageError (full disk) goes to each caller's _guard
                for _t, _p, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _t, _p, done in batch:
                if not done.done():
                    done.set_result(None)
            self._queued.set()

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except TransportError as exc:  # the full re-sync after the next reconnect repairs what was not sent
            self.stats["unsent"] += 1
            log.warning("uplink message not sent", extra={"edge_id": self._edge_id, "reason": str(exc)})
        except StorageError as exc:  # the outbox cannot take it (a full disk): counted, the edge goes on serving
            self.stats["unstored"] += 1
            log.error("uplink message not queued: %s", exc, extra={"edge_id": self._edge_id, "event": "storage_error"})
            if self.on_storage_error is not None:
                self.on_storage_error(exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _info(entity: Entity) -> DeviceInfo:
    return DeviceInfo(device_id=entity.device_id, domain=entity.domain, name=entity.name, area=entity.area,
                      device_class=entity.config.device_class, available=entity.available)
