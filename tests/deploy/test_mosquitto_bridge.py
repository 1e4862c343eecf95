"""deploy/mosquitto/bridge.conf with two real Mosquitto brokers: the home broker runs the shipped mosquitto.conf,
acl and bridge.conf (only ports, paths, address and password changed); the cloud broker listens with TLS only.
The edge's channels cross both ways, device topics and other edges' channels stay home, and a bridge that
cannot verify the cloud's certificate carries nothing."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench.reliability.acl import Client, password, shipped_config
from bench.reliability.procs import free_port, keep_user, wait_for_port
from tests.conftest import mosquitto_binary
from tests.deploy.deploy_env import DEPLOY

EDGE = "autoglm/v1/edges/edge-1"
BRIDGE_USER = "autoglm-edge-edge-1"


def openssl(*args: str) -> None:
    tool = shutil.which("openssl")
    if tool is None:
        pytest.fail("openssl is not installed (apt-get install openssl): the bridge test makes its certificates")
    subprocess.run([tool, *args], check=True, capture_output=True)


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
            "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.crt"))


def make_server_cert(d: Path) -> None:
    """server.crt for `localhost`, signed by ca."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(d / "server.key"),
            "-out", str(d / "server.csr"))
    (d / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"),
            "-CAcreateserial", "-days", "1", "-extfile", str(d / "san.ext"), "-out", str(d / "server.crt"))


class Broker:
    def __init__(self, workdir: Path, conf: str, port: int) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.conf, self.log = port, workdir / "broker.conf", workdir / "broker.log"
        self.conf.write_text(conf)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = mosquitto_binary()
        if binary is None:
            pytest.fail("mosquitto is not installed (apt-get install mosquitto)")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([binary, "-c", str(self.conf)], stdout=log, stderr=log)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


def cloud_broker(d: Path) -> Broker:
    """The cloud's broker: TLS only, one user per edge bridge, the cloud link."""
    d.mkdir()
    make_ca(d, "ca")
    make_server_cert(d)
    passwd = d / "passwd"
    passwd.touch(mode=0o600)
    for user in (BRIDGE_USER, "autoglm-cloud"):
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password(user)], check=True, capture_output=True)
    (d / "acl").write_text(f"user {BRIDGE_USER}\ntopic readwrite {EDGE}/#\n\n"
                           "user autoglm-cloud\ntopic readwrite autoglm/v1/edges/#\n")
    port = free_port()
    conf = (f"per_listener_settings false\nlistener {port}\ncafile {d}/ca.crt\ncertfile {d}/server.crt\n"
            f"keyfile {d}/server.key\nallow_anonymous false\npassword_file {passwd}\nacl_file {d}/acl\n"
            f"persistence false\nlog_dest file {d}/broker.log\nlog_type all\n{keep_user()}\n")
    return Broker(d, conf, port)


def home_broker(d: Path, cloud_port: int, cafile: Path) -> Broker:
    """The shipped home broker config plus bridge.conf, with this run's ports, files and password."""
    d.mkdir()
    port = free_port()
    conf = shipped_config(d, port, ["autoglm-edge", "autoglm-sim"])
    bridge = (DEPLOY / "mosquitto" / "bridge.conf").read_text(encoding="utf-8")
    bridge = (bridge.replace("address cloud-broker.example.com:8883", f"address localhost:{cloud_port}")
              .replace("remote_password CHANGE_ME", f"remote_password {password(BRIDGE_USER)}")
              .replace("bridge_cafile /mosquitto/config/certs/cloud-ca.crt", f"bridge_cafile {cafile}"))
    assert str(cafile) in bridge and str(cloud_port) in bridge and password(BRIDGE_USER) in bridge
    return Broker(d, conf + "\n" + bridge, port)


class CloudClient:
    """The cloud link on the cloud broker, over TLS."""

    def __init__(self, port: int, ca: Path) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="autoglm-cloud-test")
        self.client.username_pw_set("autoglm-cloud", password("autoglm-cloud"))
        self.client.tls_set(ca_certs=str(ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, bytes(m.payload)))
        ready = threading.Event()
        self.client.on_connect = lambda *_: ready.set()
        self.client.connect("localhost", port, 30)
        self.client.loop_start()
        assert ready.wait(5), "the cloud link could not connect to the TLS broker"
        self.client.subscribe("autoglm/v1/edges/#", 1)
        time.sleep(0.2)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(predicate: object, timeout: float = 8.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    cloud = cloud_broker(tmp_path / "cloud")
    cloud.start()
    yield cloud, tmp_path
    cloud.stop()


def test_bridge_carries_the_edge_channels_over_tls(brokers: tuple[Broker, Path]) -> None:
    cloud, tmp = brokers
    home = home_broker(tmp / "home", cloud.port, tmp / "cloud" / "ca.crt")
    home.start()
    try:
        assert wait_for(lambda: f"Client {BRIDGE_USER}" in (tmp / "cloud" / "broker.log").read_text()
                        or "autoglm-bridge-edge-1" in (tmp / "cloud" / "broker.log").read_text())
        link = CloudClient(cloud.port, tmp / "cloud" / "ca.crt")
        edge, sim = Client("autoglm-edge", home.port, True), Client("autoglm-sim", home.port, True)
        assert edge.connect() and sim.connect()
        edge.subscribe([f"{EDGE}/#"])
        time.sleep(0.5)  # the bridge's subscriptions settle

        edge.publish(f"{EDGE}/events", b"up")
        assert wait_for(lambda: (f"{EDGE}/events", b"up") in link.received), link.received
        link.client.publish(f"{EDGE}/twin/desired", b"down", 1).wait_for_publish(5)
        assert wait_for(lambda: (f"{EDGE}/twin/desired", b"down") in edge.received), edge.received

        sim.publish("autoglm-sim/lamp", b"device state")
        edge.publish("autoglm/v1/edges/edge-2/events", b"another edge")
        edge.publish(f"{EDGE}/decisions", b"marker")
        assert wait_for(lambda: (f"{EDGE}/decisions", b"marker") in link.received)
        assert {t for t, _ in link.received} == {f"{EDGE}/events", f"{EDGE}/twin/desired", f"{EDGE}/decisions"}
        edge.close()
        sim.close()
        link.close()
    finally:
        home.stop()


def test_bridge_refuses_a_cloud_broker_it_cannot_verify(brokers: tuple[Broker, Path]) -> None:
    """Negative control: with another CA as bridge_cafile, TLS fails and nothing crosses."""
    cloud, tmp = brokers
    (tmp / "other").mkdir()
    make_ca(tmp / "other", "ca")
    home = home_broker(tmp / "home", cloud.port, tmp / "other" / "ca.crt")
    home.start()
    try:
        link = CloudClient(cloud.port, tmp / "cloud" / "ca.crt")
        edge = Client("autoglm-edge", home.port, True)
        assert edge.connect()
        edge.publish(f"{EDGE}/events", b"up")
        assert not wait_for(lambda: link.received, timeout=3.0)
        assert "autoglm-bridge-edge-1" not in (tmp / "cloud" / "broker.log").read_text()
        edge.close()
        link.close()
    finally:
        home.stop()
