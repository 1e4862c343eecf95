"""The simulated home and `autoglm edge say` on a broker that refuses anonymous clients (the shipped config)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from autoglm.simhome import Light, SimulatedHome
from bench.reliability.acl import password, shipped_config
from bench.reliability.procs import Mosquitto
from edge.say import say
from shared.errors import TransportError

SIM = "autoglm-sim"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[int]:
    """Mosquitto with deploy/mosquitto's config: password file, ACL, no anonymous clients."""
    broker = Mosquitto(tmp_path, persistence=False, extra="allow_anonymous false")
    broker.conf.write_text(shipped_config(tmp_path, broker.port, [SIM, "autoglm-edge"]), encoding="utf-8")
    broker.start()
    try:
        yield broker.port
    finally:
        broker.terminate()


def retained_configs(port: int) -> list[str]:
    """The discovery configs the edge's user can read back (retained)."""
    got: list[str] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="login-observer")
    client.username_pw_set("autoglm-edge", password("autoglm-edge"))
    client.on_connect = lambda c, *_: c.subscribe("homeassistant/#", qos=1)
    client.on_message = lambda _c, _u, msg: got.append(msg.topic)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    return got


def test_the_simulated_home_logs_in_with_its_user(secured: int) -> None:
    home = SimulatedHome("127.0.0.1", secured, devices=[Light("lamp", "Lamp", "灯", "Study", "书房")],
                         username=SIM, password=password(SIM))
    home.start(timeout=5)
    try:
        assert any(topic.endswith("/config") and "lamp" in topic for topic in retained_configs(secured))
    finally:
        home.stop()


def test_without_a_login_the_home_is_refused_with_a_reason(secured: int) -> None:
    home = SimulatedHome("127.0.0.1", secured, devices=[Light("lamp", "Lamp", "灯", "Study", "书房")])
    with pytest.raises(TransportError, match="refused"):
        home.start(timeout=3)
    home.stop()


def test_say_names_the_refusal_and_with_a_login_waits_for_the_edge(secured: int) -> None:
    with pytest.raises(TransportError, match=r"refused the connection.*--username"):
        say("turn on the lamp", edge_id="edge-1", host="127.0.0.1", port=secured, timeout=3)
    with pytest.raises(TransportError, match="did not answer"):  # logged in; no edge runs here
        say("turn on the lamp", edge_id="edge-1", host="127.0.0.1", port=secured, timeout=1,
            username="autoglm-edge", password=password("autoglm-edge"))
