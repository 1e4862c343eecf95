"""The cloud circuit breaker against a black-holed cloud, and the time it takes to recover.

An edge daemon (the real composition root, in this process) serves a home of echoing lights on a real Mosquitto;
its cloud URL points at a black hole (a TCP server that accepts connections and never answers). Utterances arrive
over MQTT as a satellite sends them, a steady mix of local commands ("turn on the desk lamp", device round trip
included) and requests only the cloud could serve; each decision comes back on the edge's decisions topic, and
its latency is measured from the publish. The edge has few concurrent slots, so cloud requests that hang hold slots
local commands need. With the breaker, the local path stays fast and cloud requests fail fast once it is open.
Then the black hole closes and a real uvicorn server answers on the same port: recovery time is measured from the
cloud answering to the breaker closed and to the first decision the cloud made. The negative control has a breaker
that never opens (the request timeout alone): hanging requests queue up and local commands wait behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.reliability.procs import Mosquitto, free_port, until
from bench.reliability.rig import EDGE, EchoLights, edge_in_process, edge_settings
from bench.reliability.scenario import Scenario
from edge.io.breaker import BreakerState
from shared.topics import EdgeChannel, edge_topic

LAMPS = ("desk lamp", "floor lamp")
CLOUD_ONLY = "plan a surprise party for my sister"  # nothing local understands it
#: A local command slower than this (the cloud request timeout) counts as slowed down by the cloud.
LOCAL_BOUND_S = 0.5


@contextlib.asynccontextmanager
async def black_hole(port: int) -> AsyncIterator[None]:
    """Accept connections on `port` and never answer (a cloud that hangs)."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


def cloud_app() -> Starlette:
    """A cloud that is back: healthy, and it answers every plan request (with a plan of no steps)."""
    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def plan(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"plan_id": f"p{random.getrandbits(32)}", "plan": {"steps": []}, "status": "proposed",
                             "trace_id": request.headers.get("X-Trace-ID", "t"), "model": "stub",
                             "text": body.get("text")})

    return Starlette(routes=[Route("/healthz", health), Route("/v1/plan", plan, methods=["POST"])])


class Satellite:
    """Sends utterances over MQTT and times each decision the edge publishes for it."""

    def __init__(self, port: int) -> None:
        self.sent: dict[str, tuple[str, float]] = {}  # utterance id -> (kind, sent at)
        self.answers: dict[str, dict[str, Any]] = {}
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"satellite-{random.getrandbits(32)}")
        self.client.on_connect = lambda c, *_: c.subscribe(edge_topic(EDGE, EdgeChannel.DECISIONS), qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        decision = json.loads(message.payload)["payload"]
        sent = self.sent.get(decision["utterance_id"])
        if sent is not None:
            self.answers[decision["utterance_id"]] = {"kind": sent[0], "latency_s": time.perf_counter() - sent[1],
                                                      "at": time.perf_counter(), "outcome": decision["outcome"],
                                                      "source": decision.get("source")}

    def say(self, kind: str, text: str) -> None:
        utterance_id = f"u{random.getrandbits(48):x}"
        self.sent[utterance_id] = (kind, time.perf_counter())
        self.client.publish(edge_topic(EDGE, EdgeChannel.UTTERANCES),
                            json.dumps({"id": utterance_id, "text": text, "source": "mqtt", "language": "en"}), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def announce(client: paho.Client) -> None:
    """The lamps' retained discovery configs (EchoLights answers their commands)."""
    for i, name in enumerate(LAMPS):
        config = {"unique_id": f"l{i}", "name": name.title(), "schema": "json", "brightness": True,
                  "state_topic": f"dev/l{i}", "command_topic": f"dev/l{i}/set",
                  "device": {"identifiers": [f"l{i}"], "suggested_area": "Study"}}
        client.publish(f"homeassistant/light/l{i}/config", json.dumps(config), qos=1, retain=True).wait_for_publish(5)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) in milliseconds; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


async def black_holed_cloud(work: Path, *, hole_s: float, cloud_rate: float = 30.0, local_rate: float = 5.0,
                            safeguard: bool = True, seed: int = 0) -> dict[str, Any]:
    """`hole_s` seconds of a black-holed cloud under a mix of cloud requests and local commands, then recovery."""
    broker = Mosquitto(work / "broker", persistence=False)
    broker.start()
    cloud_port = free_port()
    breaker = {"open_s": 1.0} if safeguard else {"minimum_calls": 1_000_000, "window_size": 1_000_000}
    settings = edge_settings(work / "edge", broker.port, broker.port)
    # a satellite sending several commands a second is a burst by design: the behaviour monitor is not measured here
    # Admission routes everything: the admission policy reads the whole host's CPU, and on a busy machine (other test
    # runs beside this one) it queued local commands behind hanging cloud requests, which measured the policy, not
    # the breaker (local_slow > 0 with the breaker open).
    settings |= {"policy": {"rules": [{"name": "route_all", "actions": dict.fromkeys(("high", "normal", "low"),
                                                                                   "route")}]}}
    settings |= {"max_concurrent_utterances": 8, "monitor": {"device_floor": 1_000_000, "user_floor": 1_000_000},
                 "cloud": {"url": f"http://127.0.0.1:{cloud_port}", "token": "t",
                                                          "timeout_s": 0.5, "breaker": breaker}}
    echo = await asyncio.to_thread(EchoLights, broker.port)
    satellite = await asyncio.to_thread(Satellite, broker.port)
    figures: dict[str, Any] = {"hole_s": hole_s, "safeguard": safeguard, "errors": 0}
    server: uvicorn.Server | None = None
    serving: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(announce, satellite.client)
        async with edge_in_process(settings) as edge:
            await until(lambda: len(edge.registry) >= len(LAMPS), 30, "discovery")
            assert edge.cloud is not None
            breaker_state = edge.cloud.breaker
            opened_at: float | None = None

            async def traffic(seconds: float) -> None:
                nonlocal opened_at
                end, k = time.perf_counter() + seconds, 0
                step = 1 / (cloud_rate + local_rate)
                every = max(1, round((cloud_rate + local_rate) / local_rate))  # a fixed mix, local first
                while time.perf_counter() < end:
                    if k % every == 0:
                        lamp = LAMPS[k % len(LAMPS)]
                        satellite.say("local", f"turn {'on' if k % 4 < 2 else 'off'} the {lamp}")
                    else:
                        satellite.say("cloud", CLOUD_ONLY)
                    k += 1
                    if opened_at is None and breaker_state.state is not BreakerState.CLOSED:
                        opened_at = time.perf_counter()
                    await asyncio.sleep(step)

            async with black_hole(cloud_port):
                started = time.perf_counter()
                await traffic(hole_s)
            hole_ids = set(satellite.sent)
            config = uvicorn.Config(cloud_app(), host="127.0.0.1", port=cloud_port, log_config=None,
                                    access_log=False, lifespan="off")
            server = uvicorn.Server(config)
            serving = asyncio.create_task(server.serve())
            await until(lambda: server is not None and server.started, 10, "the cloud back")
            back = time.perf_counter()
            closed_at: float | None = None
            first_cloud: float | None = None
            end = back + 15
            while time.perf_counter() < end and (closed_at is None or first_cloud is None):
                satellite.say("cloud", CLOUD_ONLY)
                if closed_at is None and breaker_state.state is BreakerState.CLOSED:
                    closed_at = time.perf_counter()
                first_cloud = min((a["at"] for a in satellite.answers.values() if a["source"] == "cloud"),
                                  default=None)
                await asyncio.sleep(1 / cloud_rate)
            await until(lambda: hole_ids <= set(satellite.answers), 30, "an answer to every request")
    finally:
        if server is not None:
            server.should_exit = True
        if serving is not None:
            await asyncio.gather(serving, return_exceptions=True)
        await asyncio.to_thread(satellite.close)
        await asyncio.to_thread(echo.close)
        broker.terminate()
    answers = [satellite.answers[i] for i in hole_ids]
    local = [a for a in answers if a["kind"] == "local"]
    cloud = [a for a in answers if a["kind"] == "cloud"]
    after_open = [a["latency_s"] for a in cloud if opened_at is not None and a["at"] - a["latency_s"] > opened_at]
    return figures | {
        "local": len(local), "local_outcomes": dict(Counter(a["outcome"] for a in local)),
        "local_p50_ms": percentile([a["latency_s"] for a in local], 0.5),
        "local_p99_ms": percentile([a["latency_s"] for a in local], 0.99),
        "local_slow": sum(a["latency_s"] > LOCAL_BOUND_S for a in local),
        "cloud": len(cloud), "cloud_unavailable": sum(a["outcome"] == "cloud_unavailable" for a in cloud),
        "opened_after_s": None if opened_at is None else round(opened_at - started, 2),
        "cloud_after_open_p99_ms": percentile(after_open, 0.99),
        "cloud_slow_after_open": sum(s > LOCAL_BOUND_S / 5 for s in after_open),
        "recovery_closed_s": None if closed_at is None else round(closed_at - back, 2),
        "recovery_first_cloud_answer_s": None if first_cloud is None else round(first_cloud - back, 2),
        "not_recovered": int(closed_at is None or first_cloud is None)}


SCENARIOS = (
    Scenario("breaker.black_holed_cloud", "a black-holed cloud under a mix of local commands and cloud requests: local "
             "commands stay under 0.5 s, cloud requests fail fast once the breaker is open; recovery timed after "
             "the cloud answers again", lambda d, full, seed: black_holed_cloud(d, hole_s=20 if full else 4,
                                                                               seed=seed),
             {"lost": "not_recovered"}),
    Scenario("breaker.black_holed_cloud.no_breaker", "negative control: the same cloud with the request timeout alone",
             lambda d, full, seed: black_holed_cloud(d, hole_s=4, safeguard=False, seed=seed),
             {}, negative_control=True, loss_figure="local_slow"),
)
