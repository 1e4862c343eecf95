"""Devices -> edge -> devices on a real broker: discovery, confirmed commands, faults, bad input, restarts."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from autoglm.simhome import SimulatedHome
from edge.config import Action, LoadSample, PolicySettings, Priority
from edge.guard.policy import AdmissionPolicy
from edge.say import say
from shared.errors import StorageError
from shared.topics import EdgeChannel, edge_topic
from tests.cloud.twin_fakes import mqtt_peer
from tests.conftest import BrokerInfo
from tests.integration.conftest import EDGE_ID, Running, edge_settings, start_edge, wait_for

pytestmark = pytest.mark.integration


def publish(broker: BrokerInfo, topic: str, payload: bytes, *, retain: bool = False) -> None:
    """Publish one message with a throwaway client and wait for the broker's PUBACK."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def bad_count(running: Running, kind: str, reason: str) -> float:
    """Current value of autoglm_edge_bad_messages_total{kind, reason}."""
    value = running.edge.metrics.registry.get_sample_value(
        "autoglm_edge_bad_messages_total", {"kind": kind, "reason": reason})
    return value or 0.0


async def test_discovery_learns_every_device_with_names_and_areas(running: Running) -> None:
    entities = {e.device_id: e for e in running.edge.registry.entities()}
    assert len(entities) >= 17  # 15 devices, the two multi-sensors announce two entities each
    kitchen = entities["autoglm_sim_kitchen_light"]
    assert (kitchen.domain, kitchen.name, kitchen.area) == ("light", "Kitchen Light", "Kitchen")
    assert "厨房灯" in running.edge.registry.spoken_names(kitchen)
    domains = {e.domain for e in entities.values()}
    assert {"light", "switch", "climate", "cover", "lock", "vacuum", "media_player", "sensor"} <= domains
    assert sum(1 for e in entities.values() if e.domain == "light") >= 6


async def test_english_command_changes_the_device_and_is_confirmed(running: Running) -> None:
    decision = await running.say("turn on the kitchen lights")
    assert decision.outcome == "done", decision.reply
    assert decision.source == "template"
    assert [a.device_id for a in decision.actions] == ["autoglm_sim_kitchen_light"]
    assert running.home.state("kitchen_light")["state"] == "ON"
    assert running.edge.twins.values("autoglm_sim_kitchen_light")["state"] == "ON"

    decision = await running.say("set the bedroom light to 40%")
    assert decision.outcome == "done", decision.reply
    assert running.home.state("bedroom_light")["brightness"] == round(0.4 * 255)


async def test_chinese_command_by_area(running: Running) -> None:
    decision = await running.say("把客厅的灯打开")
    assert decision.outcome == "done", decision.reply
    assert decision.language == "zh-cn"
    assert {a.device_id for a in decision.actions} == {"autoglm_sim_living_room_ceiling",
                                                       "autoglm_sim_living_room_lamp"}
    assert running.home.state("living_room_ceiling")["state"] == "ON"
    assert running.home.state("living_room_lamp")["state"] == "ON"


async def test_decision_record_is_published_and_stored(running: Running) -> None:
    events = edge_topic(EDGE_ID, EdgeChannel.EVENTS)
    async with mqtt_peer(running.broker.host, running.broker.port, events, name="cloud") as cloud:
        decision = await running.say("turn off the desk lamp", user="alice")
        assert decision.outcome == "done" and decision.user == "alice"
        assert decision.edge_id == EDGE_ID and decision.trace_id and decision.latency_ms > 0
        stored = await running.edge.store.decisions(trace_id=decision.trace_id)
        assert [d.id for d in stored] == [decision.id]
        # the cloud's copy leaves through the uplink outbox as an event
        [sent] = await cloud.wait_envelope("edge.decision", events)
        assert sent.trace_id == decision.trace_id and sent.payload["id"] == decision.id
        assert sent.payload["user"] == "alice" and sent.payload["source"] == "template"


async def test_unknown_device_gets_a_clear_answer(running: Running) -> None:
    decision = await running.say("turn on the garage light")
    assert decision.outcome == "unknown_device"
    assert "garage" in decision.reply.lower()
    decision = await running.say("turn on the lights in the kitchen please and also order pizza")
    assert decision.outcome in ("not_understood", "unknown_device")


async def test_device_offline_before_command_answers_unavailable(running: Running) -> None:
    await asyncio.to_thread(running.home.crash, "kitchen_light")
    entity = running.edge.registry.get("autoglm_sim_kitchen_light")
    assert entity is not None
    await wait_for(lambda: entity.available is False, what="the broker's last will to mark the light offline")
    decision = await running.say("turn on the kitchen light")
    assert decision.outcome == "unavailable"
    assert "offline" in decision.reply


async def test_device_going_offline_mid_command_fails_fast(running: Running) -> None:
    await asyncio.to_thread(running.home.set_unresponsive, "study_light", True)
    task = asyncio.create_task(running.say("turn on the desk lamp"))
    await asyncio.sleep(0.2)
    await asyncio.to_thread(running.home.crash, "study_light")
    decision = await task
    assert decision.outcome == "unavailable", decision.reply
    assert decision.latency_ms < running.settings.confirm_timeout_s * 1000


async def test_unresponsive_device_times_out_with_a_clear_answer(running: Running) -> None:
    await asyncio.to_thread(running.home.set_unresponsive, "bedside_lamp", True)
    decision = await running.say("turn on the bedside lamp")
    assert decision.outcome == "timeout"
    assert "did not confirm" in decision.reply
    assert decision.actions[0].outcome == "timeout"


async def test_invalid_value_is_refused_by_the_device(running: Running) -> None:
    decision = await running.say("set the thermostat to 45 degrees")
    # 45 is outside the thermostat's announced max_temp: the edge refuses before sending.
    assert decision.outcome in ("unsupported", "not_understood")
    assert running.home.state("thermostat")["occupied_heating_setpoint"] != 45


async def test_sensitive_action_needs_confirmation(running: Running) -> None:
    await running.say("lock the front door")
    decision = await running.say("unlock the front door")
    assert decision.outcome == "needs_confirmation"
    assert running.home.state("front_door")["state"] == "LOCKED"
    decision = await running.say("unlock the front door", confirmed=True)
    assert decision.outcome == "done"
    assert running.home.state("front_door")["state"] == "UNLOCKED"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "bad_payload"),
        (json.dumps({"text": 42}).encode(), "bad_payload"),
        (json.dumps({"text": "x" * 2000}).encode(), "bad_payload"),
        (b"\xff\xfe\x00garbage", "bad_payload"),
        (b"{" + b" " * (1024 * 1024) + b"}", "payload_too_large"),
    ],
    ids=["not-json", "wrong-type", "too-long-text", "invalid-utf8", "one-megabyte"],
)
async def test_bad_utterance_payloads_are_counted_and_the_daemon_stays_up(
        running: Running, payload: bytes, reason: str) -> None:
    before = bad_count(running, "payload", reason)
    await asyncio.to_thread(publish, running.broker, edge_topic(EDGE_ID, EdgeChannel.UTTERANCES), payload)
    await wait_for(lambda: bad_count(running, "payload", reason) == before + 1, what=f"{reason} to be counted")
    decision = await running.say("turn on the coffee machine")
    assert decision.outcome == "done"


async def test_bad_device_state_and_discovery_payloads_are_rejected(running: Running) -> None:
    before = bad_count(running, "payload", "bad_payload")
    await asyncio.to_thread(publish, running.broker, "autoglm-sim/kitchen_light", b"not json at all")
    await asyncio.to_thread(publish, running.broker, "homeassistant/light/bad/thing/config",
                            json.dumps({"unique_id": 12, "state_topic": "#"}).encode())
    await wait_for(lambda: bad_count(running, "payload", "bad_payload") == before + 2, what="rejections")
    assert "12" not in {e.device_id for e in running.edge.registry.entities()}
    before = bad_count(running, "discovery", "unsupported_component")
    await asyncio.to_thread(publish, running.broker, "homeassistant/siren/x/y/config", b'{"unique_id": "s"}')
    await wait_for(lambda: bad_count(running, "discovery", "unsupported_component") == before + 1,
                   what="unknown component to be counted")
    decision = await running.say("turn on the kitchen light")
    assert decision.outcome == "done"


async def test_removed_device_is_forgotten(running: Running) -> None:
    await asyncio.to_thread(running.home.remove, "tv_plug")
    await wait_for(lambda: "autoglm_sim_tv_plug" not in running.edge.registry, what="removal")
    decision = await running.say("turn on the tv plug")
    assert decision.outcome in ("unknown_device", "not_understood")


async def test_http_health_ready_and_metrics(running: Running) -> None:
    base = f"http://127.0.0.1:{running.edge.http_port}"
    await running.say("turn on the kitchen light")
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        metrics = (await client.get("/metrics")).text
        assert 'autoglm_edge_decisions_total{outcome="done",source="template"}' in metrics
        assert "autoglm_edge_devices 17.0" in metrics
        devices = (await client.get("/v1/devices")).json()
        assert any(d["device_id"] == "autoglm_sim_kitchen_light" and d["state"]["state"] == "ON" for d in devices)


async def test_edge_restart_keeps_twins_and_registry(broker: BrokerInfo, tmp_path: Path) -> None:
    home = SimulatedHome(broker.host, broker.port, sensor_interval=60)
    await asyncio.to_thread(home.start)
    settings = edge_settings(broker, tmp_path / "edge")
    try:
        async with start_edge(settings) as edge:
            await wait_for(lambda: len(edge.registry) >= 17, what="discovery")
            decision = await asyncio.to_thread(say, "set the bedroom light to 40%", edge_id=EDGE_ID,
                                               host=broker.host, port=broker.port, timeout=10)
            assert decision.outcome == "done"
            topics = [e.discovery_topic for e in edge.registry.entities()]
    finally:
        await asyncio.to_thread(home.stop)
    # With the edge stopped, wipe the broker's retained discovery: only the edge's database remains.
    for topic in topics:
        await asyncio.to_thread(publish, broker, topic, b"", retain=True)
    with sqlite3.connect(settings.db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    async with start_edge(settings) as edge:
        assert len(edge.registry) >= 17
        assert edge.twins.values("autoglm_sim_bedroom_light")["brightness"] == 102
        assert edge.registry.get("autoglm_sim_bedroom_light").area == "Bedroom"


async def test_corrupt_database_is_refused_with_a_clear_error(broker: BrokerInfo, tmp_path: Path) -> None:
    settings = edge_settings(broker, tmp_path / "edge")
    settings.data_dir.mkdir(parents=True)
    settings.db_path.write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(StorageError, match="cannot open edge database"):
        async with start_edge(settings):
            pass
    assert settings.db_path.read_bytes().startswith(b"this is not")  # never silently reset


async def test_model_stage_handles_what_templates_do_not(running: Running) -> None:
    await running.say("set the bedroom light to 80%")
    decision = await running.say("hey olly could you make the bedroom light a bit dimmer")
    assert decision.source == "model", decision
    assert decision.intent == "HassLightSet" and decision.slots.get("brightness_direction") == "down"
    assert decision.outcome == "done", decision.reply
    assert decision.model_version
    assert running.home.state("bedroom_light")["brightness"] < round(0.8 * 255)


async def test_a_repeated_request_in_the_same_state_is_served_from_the_decision_cache(running: Running) -> None:
    first = await running.say("turn on the kitchen lights")  # made with the light off: cached under that state
    assert (first.outcome, first.source) == ("done", "template")
    off = await running.say("turn off the kitchen lights")
    assert off.outcome == "done" and running.home.state("kitchen_light")["state"] == "OFF"
    again = await running.say("Turn on the kitchen lights!")
    assert (again.outcome, again.source) == ("done", "cache"), again
    assert "template" not in again.stages_ms and "cache" in again.stages_ms
    assert running.home.state("kitchen_light")["state"] == "ON"  # a hit still executes and confirms
    assert running.edge.cache is not None and running.edge.cache.hits == 1
    moved = await running.say("turn on the kitchen lights")  # the light is on now: another state, a miss
    assert moved.source == "template"


async def test_a_compound_request_of_local_commands_is_served_at_the_edge(running: Running) -> None:
    decision = await running.say("turn on the kitchen lights and close the curtains")
    assert decision.outcome == "done", decision.reply
    assert decision.intent == "HassTurnOn+HassTurnOff" and len(decision.slots["parts"]) == 2
    assert {a.device_id for a in decision.actions} == {"autoglm_sim_kitchen_light", "autoglm_sim_curtains"}
    assert running.home.state("kitchen_light")["state"] == "ON" and running.home.state("curtains")["position"] == 0
    zh = await running.say("把厨房的灯关掉然后打开窗帘")
    assert zh.outcome == "done", zh.reply
    assert running.home.state("kitchen_light")["state"] == "OFF" and running.home.state("curtains")["position"] == 100


async def test_a_compound_request_with_a_part_the_edge_cannot_do_is_not_half_done(running: Running) -> None:
    await running.say("turn off the kitchen lights")
    decision = await running.say("turn on the kitchen lights and order me a pizza")
    assert decision.outcome == "not_understood", decision.reply  # no cloud here; with one it goes to the planner
    assert decision.actions == []
    assert running.home.state("kitchen_light")["state"] == "OFF"


class Overloaded:
    """Load signals of a host whose CPU is nearly saturated."""

    def sample(self) -> LoadSample:
        return LoadSample(cpu=0.95, p95_latency_ms=120.0)

    def record_latency(self, ms: float) -> None:
        pass


async def test_under_load_normal_requests_are_shed_and_high_priority_users_still_served(running: Running) -> None:
    normal = await running.say("turn on the kitchen lights")
    # the real host's load decides the rule here (a busy CI machine may already be queueing normal work)
    assert normal.outcome == "done" and normal.policy_rule in ("default", "overload_cpu", "overload_latency")
    running.edge.gate.policy = AdmissionPolicy(PolicySettings(user_priorities={"alice": "high"}), Overloaded())
    running.edge.gate.policy.settings.rules[0].actions[Priority.NORMAL] = Action.SHED  # shed normal work too
    shed = await running.say("turn off the kitchen lights")
    assert (shed.outcome, shed.policy_rule) == ("busy", "overload_cpu"), shed
    assert running.home.state("kitchen_light")["state"] == "ON"
    served = await running.say("turn off the kitchen lights", user="alice")
    assert (served.outcome, served.policy_rule) == ("done", "default"), served  # no overload rule touches high
    assert running.home.state("kitchen_light")["state"] == "OFF"
    lock = await running.say("lock the front door")  # a lock is a high-priority device: not shed either
    assert (lock.outcome, lock.policy_rule) == ("done", "default"), lock


async def test_a_burst_of_commands_on_one_device_is_rate_limited_with_an_alert(running: Running) -> None:
    outcomes = []
    for i in range(9):
        decision = await running.say(f"turn {'on' if i % 2 == 0 else 'off'} the kitchen lights")
        outcomes.append((decision.outcome.value, decision.held_by))
    assert ("rate_limited", "rate:device") in outcomes, outcomes
    assert outcomes[0] == ("done", None)
    alerts = running.edge.metrics.registry.get_sample_value("autoglm_edge_alerts_total", {"rule": "rate:device"})
    assert alerts == 1.0
    other = await running.say("turn on the desk lamp")  # other devices are not limited
    assert other.outcome == "done", other.reply


async def test_a_held_request_goes_ahead_with_its_single_use_token(running: Running) -> None:
    held = await running.say("unlock the front door")
    assert held.outcome == "needs_confirmation" and held.confirm_token, held
    assert running.home.state("front_door")["state"] == "LOCKED"
    wrong = await running.say("yes", confirm_token="not-a-token")
    assert wrong.outcome == "error" and "unknown" in wrong.reply
    done = await running.say("yes", confirm_token=held.confirm_token)
    assert done.outcome == "done" and done.trace_id == held.trace_id, done.reply  # one trace, asked to done
    assert running.home.state("front_door")["state"] == "UNLOCKED"
    again = await running.say("yes", confirm_token=held.confirm_token)
    assert again.outcome == "error" and "already used" in again.reply
    await running.say("lock the front door")
    via_http = await running.say("unlock the front door")
    async with httpx.AsyncClient() as client:
        url = f"http://127.0.0.1:{running.edge.http_port}/v1/confirmations/"
        answer = await client.post(url + str(via_http.confirm_token))
        assert answer.status_code == 200 and answer.json()["outcome"] == "done", answer.text
        refused = await client.post(url + str(via_http.confirm_token))
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "confirmation_invalid"


async def test_command_for_later_is_deferred_and_changes_nothing(running: Running) -> None:
    await running.say("turn off the kitchen lights")
    decision = await running.say("turn on the kitchen lights at seven pm")
    assert decision.outcome == "deferred", decision.reply
    assert decision.intent == "HassTurnOn" and decision.when == "at seven pm"
    assert decision.actions == []
    assert "seven pm" in decision.reply
    assert running.home.state("kitchen_light")["state"] == "OFF"


async def test_edge_without_a_model_runs_degraded_and_picks_one_up(broker: BrokerInfo, tmp_path: Path) -> None:
    import shutil

    from edge.config import DEFAULT_MODEL_DIR

    model_dir = tmp_path / "model"
    settings = edge_settings(broker, tmp_path / "edge", model_dir=model_dir, model_poll_s=0.2)
    home = SimulatedHome(broker.host, broker.port, sensor_interval=60)
    await asyncio.to_thread(home.start)
    try:
        async with start_edge(settings) as edge:
            await wait_for(lambda: len(edge.registry) >= 17 and edge.http_port is not None, what="discovery")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge.http_port}", timeout=5) as client:
                ready = (await client.get("/readyz")).json()
                assert ready["ready"] is True and "missing" in ready["degraded"]["intent_model"]
            ask = lambda text: asyncio.to_thread(say, text, edge_id=EDGE_ID, host=broker.host,  # noqa: E731
                                                 port=broker.port, timeout=10)
            assert (await ask("turn on the kitchen light")).outcome == "done"  # templates still serve
            assert (await ask("could you make the kitchen light a bit dimmer")).outcome == "not_understood"
            shutil.copytree(DEFAULT_MODEL_DIR, model_dir)
            await wait_for(lambda: edge.model.model is not None, what="hot reload")
            decision = await ask("could you make the kitchen light a bit dimmer")
            assert decision.source == "model" and decision.outcome == "done", decision.reply
    finally:
        await asyncio.to_thread(home.stop)
