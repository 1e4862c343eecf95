"""Devices abusing topics against the shipped broker config (deploy/mosquitto: password file + ACL).

The real Mosquitto runs `deploy/mosquitto/mosquitto.conf` and `acl` as shipped (only the port and file paths are
changed), with a password file made by `mosquitto_passwd` as the README says. Legitimate clients (the edge, the
cloud link, a device of our own layout, a zigbee2mqtt bridge, a Tasmota plug, an ESPHome node) exchange their
usual messages, which must all arrive. Attackers log in as devices: `evil`, and devices whose ids are `#` and `+`.
Each subscribes to `#` and to other devices' topics, and publishes to another device's command topic, another
device's state, another device's discovery config and the edge's desired twin. A cross-device delivery is any
message an attacker receives that it did not send, and any attacker message a legitimate client receives.
The negative control runs the same abuse against an allow-all broker (anonymous, no ACL).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.reliability.procs import ROOT, Mosquitto, keep_user
from bench.reliability.scenario import Scenario

SHIPPED = ROOT / "deploy" / "mosquitto"
EDGE = "autoglm/v1/edges/home-1"
MARK = b"ATTACK"

#: username -> what it subscribes to, and what it publishes (topic, payload) as legitimate traffic.
LEGIT: dict[str, tuple[list[str], list[tuple[str, bytes]]]] = {
    "autoglm-edge": (["homeassistant/#", "autoglm-sim/+", "zigbee2mqtt/+", "stat/+/#", "tele/+/#",
                      "esphome/+/state", f"{EDGE}/twin/desired"],
                     [("autoglm-sim/lamp/set", b'{"state": "ON"}'), ("zigbee2mqtt/bulb/set", b'{"state": "ON"}'),
                      ("cmnd/tasmota_plug/POWER", b"ON"), ("esphome/esp_fan/command", b"ON"),
                      (f"{EDGE}/status", b'{"state": "online"}'), (f"{EDGE}/twin/reported", b"{}")]),
    "autoglm-cloud": ([f"{EDGE}/status", f"{EDGE}/twin/reported"], [(f"{EDGE}/twin/desired", b"{}")]),
    "lamp": (["autoglm-sim/lamp/set", "homeassistant/status"],
             [("autoglm-sim/lamp", b'{"state": "OFF"}'), ("autoglm-sim/lamp/availability", b"online"),
              ("homeassistant/light/lamp/lamp/config", b'{"name": "Lamp"}')]),
    "zigbee2mqtt": (["zigbee2mqtt/+/set"], [("zigbee2mqtt/bulb", b'{"state": "OFF"}'),
                                           ("homeassistant/light/0x00124b/light/config", b'{"name": "Bulb"}')]),
    "tasmota_plug": (["cmnd/tasmota_plug/#"], [("stat/tasmota_plug/POWER", b"OFF")]),
    "esp_fan": (["esphome/esp_fan/command"], [("esphome/esp_fan/state", b"OFF")]),
}
#: What every legitimate client must receive from the others (topic -> receivers), or the ACL is too tight.
EXPECTED = {
    "autoglm-sim/lamp/set": {"lamp"}, "zigbee2mqtt/bulb/set": {"zigbee2mqtt"},
    "cmnd/tasmota_plug/POWER": {"tasmota_plug"}, "esphome/esp_fan/command": {"esp_fan"},
    f"{EDGE}/status": {"autoglm-cloud"}, f"{EDGE}/twin/reported": {"autoglm-cloud"},
    f"{EDGE}/twin/desired": {"autoglm-edge"}, "autoglm-sim/lamp": {"autoglm-edge"},
    "homeassistant/light/lamp/lamp/config": {"autoglm-edge"}, "zigbee2mqtt/bulb": {"autoglm-edge"},
    "homeassistant/light/0x00124b/light/config": {"autoglm-edge"}, "stat/tasmota_plug/POWER": {"autoglm-edge"},
    "esphome/esp_fan/state": {"autoglm-edge"},
}
ATTACKERS = ("evil", "#", "+")
ATTACK_SUBSCRIPTIONS = ["#", "autoglm-sim/#", "autoglm-sim/+/set", "autoglm-sim/lamp/set", "homeassistant/#",
                        "autoglm/#", "cmnd/#", "zigbee2mqtt/#", "esphome/#"]
ATTACK_PUBLISHES = ["autoglm-sim/lamp/set", "autoglm-sim/lamp", "homeassistant/light/lamp/lamp/config",
                    "zigbee2mqtt/bulb/set", "cmnd/tasmota_plug/POWER", "esphome/esp_fan/command",
                    f"{EDGE}/twin/desired", f"{EDGE}/utterances", "homeassistant/light/x/+/config"]


def mosquitto_passwd() -> str:
    """The `mosquitto_passwd` tool; RuntimeError with the install hint when missing."""
    found = shutil.which("mosquitto_passwd") or ("/usr/bin/mosquitto_passwd"
                                                 if Path("/usr/bin/mosquitto_passwd").exists() else None)
    if found is None:
        raise RuntimeError("mosquitto_passwd is not installed (apt-get install mosquitto): the ACL scenario needs it")
    return found


def password(user: str) -> str:
    """Each bench user's password (only this broker, only this run)."""
    return f"pw-{user.encode().hex()}"


def make_passwd(path: Path, users: list[str]) -> None:
    """A password file for `users`, made as deploy/mosquitto/README.md says (`mosquitto_passwd -b`)."""
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    for user in users:
        subprocess.run([mosquitto_passwd(), "-b", str(path), user, password(user)], check=True, capture_output=True)


def shipped_config(workdir: Path, port: int, users: list[str]) -> str:
    """deploy/mosquitto/mosquitto.conf with this run's port and files; everything else as shipped."""
    make_passwd(workdir / "passwd", users)
    shutil.copyfile(SHIPPED / "acl", workdir / "acl")
    replace = {"listener": f"listener {port} 127.0.0.1", "password_file": f"password_file {workdir / 'passwd'}",
               "acl_file": f"acl_file {workdir / 'acl'}", "persistence_location": f"persistence_location {workdir}/",
               "log_dest": f"log_dest file {workdir / 'mosquitto.log'}"}
    lines = []
    for line in (SHIPPED / "mosquitto.conf").read_text(encoding="utf-8").splitlines():
        key = line.split(" ", 1)[0]
        if key in replace:
            lines.append(replace.pop(key))
        elif key != "log_dest":
            lines.append(line)
    return "\n".join([*lines, keep_user()]) + "\n"


@dataclass
class Client:
    """A paho client that records what it receives; `refused` when the broker turned its login down."""

    user: str
    port: int
    login: bool
    received: list[tuple[str, bytes]] = field(default_factory=list)
    refused: bool = False
    _ready: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.user, clean_session=True)
        if self.login:
            self.client.username_pw_set(self.user, password(self.user))
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, msg: self.received.append((msg.topic, bytes(msg.payload)))

    def _on_connect(self, _c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.refused = bool(rc.is_failure)
        self._ready.set()

    def connect(self) -> bool:
        """Connect and wait for the broker's answer; False when refused."""
        self.client.connect("127.0.0.1", self.port, 30)
        self.client.loop_start()
        self._ready.wait(5)
        if self.refused or not self._ready.is_set():
            self.client.loop_stop()
            self.refused = True
        return not self.refused

    def subscribe(self, filters: list[str]) -> None:
        """Subscribe at QoS 1 and wait for the SUBACK (a denied filter is granted nothing)."""
        for topic_filter in filters:
            self.client.subscribe(topic_filter, 1)
        time.sleep(0.1)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the PUBACK; a topic paho refuses locally (wildcards) is skipped."""
        try:
            info = self.client.publish(topic, payload, 1, retain)
        except ValueError:
            return
        info.wait_for_publish(5)

    def close(self) -> None:
        """Disconnect."""
        if not self.refused:
            self.client.disconnect()
            self.client.loop_stop()


def abuse(workdir: Path, *, shipped: bool = True) -> dict[str, Any]:
    """Legitimate traffic and the attackers' abuse on one broker; cross-device deliveries and missing legit ones."""
    users = [*LEGIT, *ATTACKERS]
    broker = Mosquitto(workdir, persistence=False, extra=f"allow_anonymous true\n{keep_user()}")
    if shipped:
        broker.conf.write_text(shipped_config(workdir, broker.port, users), encoding="utf-8")
    broker.start()
    legit = {user: Client(user, broker.port, shipped) for user in LEGIT}
    attackers = {user: Client(user, broker.port, shipped) for user in ATTACKERS}
    try:
        for user, client in legit.items():
            if not client.connect():
                raise RuntimeError(f"legitimate user {user!r} was refused: {broker.log.read_text()[-500:]}")
            client.subscribe(LEGIT[user][0])
        for user, client in legit.items():  # retained first: a late subscriber must not read them either
            for topic, payload in LEGIT[user][1]:
                client.publish(topic, payload, retain=True)
        logged_in = [a for a in attackers.values() if a.connect()]
        for attacker in logged_in:
            attacker.subscribe(ATTACK_SUBSCRIPTIONS)
            for topic in ATTACK_PUBLISHES:
                attacker.publish(topic, MARK + attacker.user.encode())
        for user, client in legit.items():
            for topic, payload in LEGIT[user][1]:
                client.publish(topic, payload)
        time.sleep(0.5)
    finally:
        for client in [*legit.values(), *attackers.values()]:
            client.close()
        broker.terminate()
    stolen = sum(1 for a in attackers.values() for _topic, payload in a.received
                 if not payload.endswith(a.user.encode()))
    injected = sum(1 for c in legit.values() for _topic, payload in c.received if payload.startswith(MARK))
    missing = sorted(f"{topic} -> {user}" for topic, receivers in EXPECTED.items() for user in receivers
                     if not any(t == topic and not p.startswith(MARK) for t, p in legit[user].received))
    return {"config": "shipped" if shipped else "allow-all", "attackers_logged_in": len(logged_in),
            "attackers": len(ATTACKERS), "stolen_deliveries": stolen, "injected_deliveries": injected,
            "cross_device_deliveries": stolen + injected, "legit_expected": sum(map(len, EXPECTED.values())),
            "legit_missing": len(missing), "missing": missing[:10], "errors": len(missing)}


SCENARIOS = (
    Scenario("acl.topic_abuse", "devices with ids '#' and '+', a device publishing to another's command topic and "
             "subscribing to '#', against the shipped Mosquitto password file + ACL: 0 cross-device deliveries, "
             "every legitimate delivery made",
             lambda d, full, seed: asyncio.to_thread(abuse, d / "acl"),
             {"unauthorized_calls": "cross_device_deliveries"}),
    Scenario("acl.topic_abuse.allow_all", "negative control: the same abuse against an allow-all broker",
             lambda d, full, seed: asyncio.to_thread(abuse, d / "acl-nc", shipped=False),
             {}, negative_control=True, loss_figure="cross_device_deliveries"),
)
