"""Malformed MQTT payloads against the real edge daemon's message handler: nothing escapes, each one is counted.

The daemon learns the simulated home from its own discovery messages, then gets generated payloads (hypothesis:
wrong types, NaN and infinities, deep nesting, invalid UTF-8, oversized bodies, random bytes) on every topic kind
it handles: discovery configs, device state, availability, device errors and the cloud's desired twin deltas.
A payload is "rejected" when the daemon's bad-message counter moved; an exception out of `handle` is a crash (the
route loop would have died with it). The negative control's daemon has its error boundary switched off
(`Safeguards(contain_errors=False)`): the same payloads, and it counts what escapes `handle`.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import hypothesis
from hypothesis import strategies as st

from autoglm.simhome.catalog import default_home
from bench.reliability.scenario import Scenario
from edge.config import Safeguards, load_settings
from edge.daemon import EdgeDaemon
from edge.ports import Message
from shared.codec import encode
from shared.topics import discovery_topic

EDGE_ID = "fuzz-edge"
NODE_ID = "autoglm_sim"

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text()
json_like = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                                             inner, max_size=4),
                         max_leaves=20)
FIELDS = ("state", "brightness", "color", "color_mode", "temperature", "current_temperature", "position",
          "volume_level", "name", "unique_id", "state_topic", "command_topic", "device", "schema", "error",
          "properties", "id", "version", "values", "value", "ts")

T = TypeVar("T")


def nested(depth: int) -> bytes:
    """A JSON object nested `depth` deep."""
    return b'{"a":' * depth + b"1" + b"}" * depth


def hostile(data: st.DataObject) -> bytes:
    """One hostile payload, drawn by hypothesis."""
    kind = data.draw(st.integers(0, 6))
    if kind == 0:  # a plausible object with wrong types in known fields
        keys = data.draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=5, unique=True))
        return json.dumps({k: data.draw(json_like) for k in keys}, allow_nan=True).encode()
    if kind == 1:  # NaN and infinities where numbers go
        bad = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        return json.dumps({data.draw(st.sampled_from(FIELDS)): bad}, allow_nan=True).encode()
    if kind == 2:
        return nested(data.draw(st.sampled_from([64, 200, 1000, 5000])))
    if kind == 3:  # invalid UTF-8 inside otherwise valid JSON
        return b'{"state": "' + data.draw(st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80"])) + b'"}'
    if kind == 4:  # oversized
        return b'{"state": "' + b"x" * data.draw(st.sampled_from([70_000, 300_000, 2_000_000])) + b'"}'
    if kind == 5:
        return data.draw(st.binary(max_size=64))
    return json.dumps(data.draw(json_like), allow_nan=True).encode()


def draw_many(draw: Callable[[st.DataObject], T], count: int, seed: int) -> list[T]:
    """`count` values drawn by `draw`, reproducible from `seed` (hypothesis generation only: nothing to shrink)."""
    out: list[T] = []

    @hypothesis.seed(seed)
    @hypothesis.settings(max_examples=count, database=None, deadline=None, phases=[hypothesis.Phase.generate],
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(st.data())
    def collect(data: st.DataObject) -> None:
        out.append(draw(data))

    collect()
    return out


def generate(count: int, seed: int) -> list[bytes]:
    """`count` hostile payloads, reproducible from `seed`."""
    return draw_many(hostile, count, seed)


async def malformed_payloads(data_dir: Path, count: int, *, seed: int = 0, safeguard: bool = True) -> dict[str, Any]:
    """`count` hostile payloads spread over the daemon's topics; crashes, rejections and accepted ones."""
    settings = load_settings(None, edge_id=EDGE_ID, data_dir=data_dir, http={"port": 0},
                             cloud={"url": None}, uplink={"outbox": False})
    edge = EdgeDaemon(settings, safeguards=Safeguards(contain_errors=safeguard))
    await edge.store.open()
    topics: list[str] = []
    try:
        for device in default_home():
            for entity in device.discovery():
                topic = discovery_topic(entity.component, entity.object_id, NODE_ID, settings.discovery_prefix)
                await edge.handle(Message(topic, encode(entity.config), 1, True))
                topics += [topic, entity.config["state_topic"], entity.config["availability_topic"]]
                if "error_topic" in entity.config:
                    topics.append(entity.config["error_topic"])
        topics.append(edge.uplink.desired_topic)
        rng = random.Random(seed)
        crashes: dict[str, int] = {}
        rejected = accepted = 0
        payloads = await asyncio.to_thread(generate, count, seed)
        for payload in payloads:
            message = Message(rng.choice(topics), payload, 1, False)
            before = _bad_total(edge)
            try:
                await edge.handle(message)
            except Exception as exc:
                name = type(exc).__name__
                crashes[name] = crashes.get(name, 0) + 1
                continue
            if _bad_total(edge) > before:
                rejected += 1
            else:
                accepted += 1
    finally:
        await edge.store.close()
    return {"payloads": len(payloads), "safeguard": safeguard, "topics": len(topics), "rejected": rejected,
            "accepted": accepted, "crashes": sum(crashes.values()), "crash_types": crashes}


def _bad_total(edge: EdgeDaemon) -> float:
    """The daemon's bad-message counter summed over its labels."""
    return sum(sample.value for metric in edge.metrics.bad_messages.collect() for sample in metric.samples
               if sample.name.endswith("_total"))


SCENARIOS = (
    Scenario("mqtt.malformed_payloads", "hypothesis-made hostile payloads on every topic kind the edge handles: none "
             "escapes the handler, bad ones are counted (accepted = valid by chance, an empty discovery config, "
             "which removes a device as in HA, or a state with no field the device uses, ignored like zigbee2mqtt's "
             "extra fields)",
             lambda d, full, seed: malformed_payloads(d / "edge", 10_000 if full else 1000, seed=seed),
             {"crashes": "crashes"}),
    Scenario("mqtt.malformed_payloads.no_error_boundary", "negative control: the same payloads without the "
             "handler's error boundary", lambda d, full, seed: malformed_payloads(d / "edge-nc", 300, seed=seed,
                                                                                 safeguard=False),
             {}, negative_control=True, loss_figure="crashes"),
)
