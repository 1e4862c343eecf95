"""Brokers down while the lights keep changing: the uplink (cloud) broker, then the local broker.

The edge (`autoglm edge run` in a child process, on the bridge rig of bench/reliability/rig_bridge.py) must survive
and resume, its memory (VmRSS) must stay flat, and every reported change must reach the cloud's persistent QoS 1
subscriber (`CloudTap`) after recovery or be counted by the outbox's bound (its overflow report). The negative
control's edge has no outbox (`uplink.outbox = false` in its settings): what it reports while the uplink is down is
gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.reliability.procs import EdgeProcess, Mosquitto, keep_user, rss_kb
from bench.reliability.rig_bridge import EDGE_ID, Lights, edge_settings
from bench.reliability.scenario import Scenario
from shared.sync import EdgeEvent, SyncType
from shared.topics import EdgeChannel, edge_topic


class CloudTap:
    """The cloud's end of one edge's uplink: a persistent-session QoS 1 subscriber to all of the edge's channels.

    It records every (light, brightness) a reported delta or full twin carried, and the outbox overflow reports
    (`edge.outbox_overflow`, once per envelope id since delivery is at-least-once): how many messages of the
    reported topic the outbox's bound dropped."""

    def __init__(self, port: int, *, client_id: str = "rel-cloud-tap") -> None:
        self.seen: dict[tuple[str, int], float] = {}  # (light, brightness) -> when first seen (monotonic)
        self.evicted = 0  # reported-topic messages the edge says its outbox dropped
        self.evicted_other = 0  # dropped messages of other topics
        self.messages = 0
        self.last_message = time.monotonic()
        self._overflow_ids: set[str] = set()
        self._reported = edge_topic(EDGE_ID, EdgeChannel.TWIN_REPORTED)
        self._lock = threading.Lock()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self._client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]  # floats work
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._port = port

    def start(self) -> None:
        self._client.connect_async("127.0.0.1", self._port, 30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if not rc.is_failure:
            client.subscribe(f"autoglm/v1/edges/{EDGE_ID}/#", 1)

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            envelope = json.loads(msg.payload)
            kind, payload = envelope["type"], envelope["payload"]
        except (ValueError, KeyError, TypeError):
            return  # the retained status is no envelope
        now = time.monotonic()
        with self._lock:
            self.messages += 1
            self.last_message = now
            if kind == SyncType.REPORTED:
                self._note(payload, now)
            elif kind == SyncType.REPORTED_FULL:
                for twin in payload.get("twins", []):
                    self._note(twin, now)
            elif kind == EdgeEvent.OUTBOX_OVERFLOW and envelope["id"] not in self._overflow_ids:
                self._overflow_ids.add(envelope["id"])
                for topic, count in payload["by_topic"].items():
                    if topic == self._reported:
                        self.evicted += int(count)
                    else:
                        self.evicted_other += int(count)

    def _note(self, twin: dict[str, Any], now: float) -> None:
        value = twin.get("values", {}).get("brightness", {}).get("value")
        if isinstance(value, int):
            self.seen.setdefault((str(twin["device_id"]).removeprefix("rel_"), value), now)


def outbox_rows(data_dir: Path) -> int:
    """Messages waiting in the edge's outbox file (read by another process, as an operator would)."""
    path = data_dir / "outbox.db"
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


async def outage(tmp: Path, down_s: float, *, phases: tuple[str, ...] = ("uplink", "local"), lights: int = 8,
                 rate: float = 16.0, around_s: float = 1.5, outbox: bool = True,
                 outbox_max: int | None = None, rss_limit_mb: float = 50.0) -> dict[str, Any]:
    """Brokers down for `down_s` each while the lights keep changing (`rate` changes a second in all).

    Two brokers, as a gateway whose cloud is elsewhere: the local one (lights and edge) and the uplink one (edge
    and the cloud's tap). Phase `uplink`: the uplink broker is stopped; the edge still hears every change and
    must keep it (outbox) until the broker is back. Phase `local`: the local broker is stopped; the edge hears
    nothing (the lights' client keeps its QoS 1 publishes until it reconnects) and must survive and resume.
    The edge's VmRSS is sampled every 0.5 s. Every change must reach the tap or be counted by the outbox's bound
    (`outbox_max`, default: half of what one outage produces, so the overflow policy is exercised). RSS growth
    above `rss_limit_mb` counts as an error, as does an edge that died or restarted or did not resume."""
    if down_s <= 0 or rate <= 0 or lights < 1:
        raise ValueError("down_s and rate must be positive, lights at least 1")
    if any(p not in ("uplink", "local") for p in phases) or not phases:
        raise ValueError(f"phases are 'uplink' and/or 'local', got {phases!r}")
    span = len(phases) * (down_s + 2 * around_s) + 2 * around_s
    if rate * span / lights > 250:
        raise ValueError("at most 250 changes per light (brightness 2..255 tells them apart): add lights")
    bound = outbox_max if outbox_max is not None else max(1, int(rate * down_s / 2))
    names = [f"l{i}" for i in range(lights)]
    local = Mosquitto(tmp / "local", extra=keep_user())
    uplink = Mosquitto(tmp / "uplink", extra=keep_user())
    local.start()
    uplink.start()
    devices = Lights(local.port, names)
    tap = CloudTap(uplink.port)
    settings = edge_settings(tmp / "edge" / "data", local.port, uplink_port=uplink.port)
    settings["uplink"] |= {"outbox": outbox, "outbox_max": bound}
    edge = EdgeProcess(tmp / "edge", settings)
    produced: dict[tuple[str, int], float] = {}  # (light, brightness) -> when made
    rss: list[int] = []
    resume: dict[str, float | None] = {}
    started = time.monotonic()
    edge_alive = False
    try:
        tap.start()
        devices.start()
        edge.start()
        deadline = time.monotonic() + 60
        while not all((n, 1) in tap.seen for n in names):
            if time.monotonic() > deadline or not edge.running:
                raise RuntimeError(f"the edge did not report every light to the cloud: {edge.log}")
            await asyncio.sleep(0.1)
        assert edge.proc is not None
        pid = edge.proc.pid
        stop = asyncio.Event()

        async def sample() -> None:
            while not stop.is_set():
                with contextlib.suppress(OSError, RuntimeError):
                    rss.append(rss_kb(pid))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)

        async def change() -> None:
            nxt = dict.fromkeys(names, 2)
            i = 0
            t0 = time.monotonic()
            while not stop.is_set():
                light = names[i % lights]
                produced[(light, nxt[light])] = time.monotonic()
                devices.set_brightness(light, nxt[light])
                nxt[light] += 1
                i += 1
                await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))

        tasks = [asyncio.create_task(sample()), asyncio.create_task(change())]
        try:
            await asyncio.sleep(around_s)
            for phase in phases:
                broker = uplink if phase == "uplink" else local
                await asyncio.to_thread(broker.terminate)
                await asyncio.sleep(down_s)
                await asyncio.to_thread(broker.start)
                back = time.monotonic()
                await asyncio.sleep(2 * around_s)
                later = [t for key, t in tap.seen.items() if produced.get(key, 0) > back]
                resume[phase] = round(min(later) - back, 2) if later else None
            await asyncio.sleep(around_s)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        settle = time.monotonic() + 30
        while time.monotonic() < settle:
            undelivered = sum(1 for key in produced if key not in tap.seen)
            if undelivered <= tap.evicted:
                break
            quiet = time.monotonic() - tap.last_message > 1.5
            if quiet and (not outbox or await asyncio.to_thread(outbox_rows, tmp / "edge" / "data") == 0):
                break  # nothing more is coming
            await asyncio.sleep(0.2)
        edge_alive = edge.running and edge.starts == 1
    finally:
        edge.terminate()
        await asyncio.to_thread(devices.stop)
        await asyncio.to_thread(tap.stop)
        local.terminate()
        uplink.terminate()
    delivered = sum(1 for key in produced if key in tap.seen)
    undelivered = len(produced) - delivered
    start_kb = rss[0] if rss else 0
    growth_mb = round((max(rss, default=0) - start_kb) / 1024, 1)
    # An eviction can hit a message the drain has already read and then sends (the full re-sync queued at a
    # reconnect into a full outbox does): counted as dropped yet delivered, hence `overcounted`, and `lost` >= 0.
    return {"phases": "+".join(phases), "down_s": down_s, "outbox": outbox, "outbox_max": bound,
            "produced": len(produced), "delivered": delivered, "evicted_counted": tap.evicted,
            "evicted_other_topics": tap.evicted_other, "lost": max(0, undelivered - tap.evicted),
            "overcounted": max(0, tap.evicted - undelivered),
            "rss_start_mb": round(start_kb / 1024, 1), "rss_max_mb": round(max(rss, default=0) / 1024, 1),
            "rss_growth_mb": growth_mb, "rss_samples": len(rss), **{f"{p}_resume_s": resume.get(p) for p in phases},
            "errors": int(not edge_alive) + sum(v is None for v in resume.values()) + int(growth_mb > rss_limit_mb)
            + int(len(rss) < 2),
            "seconds": round(time.monotonic() - started, 1)}


SCENARIOS = (
    Scenario("broker.outage", "the uplink (cloud) broker down 30 s, then the local broker down 30 s (reduced: 3 s "
             "each), while 8 lights make 16 changes a second: the edge survives and resumes, its VmRSS stays flat, "
             "every change reaches the cloud's persistent QoS 1 subscriber or is counted by the outbox's bound "
             "(half an outage's changes): 0 lost",
             lambda d, full, seed: outage(d / "outage", 30.0 if full else 3.0, around_s=1.5 if full else 1.0),
             {"lost": "lost"}),
    Scenario("broker.outage.no_outbox", "negative control: an edge without the outbox (uplink.outbox = false) "
             "during a 3 s uplink outage", lambda d, full, seed: outage(d / "outage-nc", 3.0, phases=("uplink",),
                                                                      outbox=False, around_s=1.0),
             {}, negative_control=True, loss_figure="lost"),
)
