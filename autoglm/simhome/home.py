"""The MQTT side of the simulated home: one paho client per device, like separate physical devices."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from autoglm.simhome.catalog import default_home
from autoglm.simhome.devices import NODE_ID, CommandRejectedError, Pace, SimDevice
from shared.codec import encode
from shared.errors import ConfigError, TransportError, UnknownDeviceError
from shared.payloads import DeviceErrorEvent
from shared.topics import DEFAULT_DISCOVERY_PREFIX, discovery_topic

log = logging.getLogger(__name__)

#: How often time-driven behaviour (cover motion, vacuum, sensors) advances.
TICK_SECONDS = 0.05
#: Publishes a client holds while the broker is away; beyond this paho drops new ones (state is
#: retained and republished on the next change, so dropping the oldest news is harmless).
MAX_QUEUED = 100
_QOS = 1


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """Real radios answer in milliseconds; don't let Nagle's algorithm add 40 ms to every report."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class DeviceLink:
    """One simulated device on its own MQTT connection, with a last will of `offline`."""

    def __init__(self, device: SimDevice, prefix: str, login: tuple[str, str | None] | None = None) -> None:
        self.device = device
        self.topics = device.topics
        self.prefix = prefix
        self.lock = threading.Lock()  # serialises commands, ticks and snapshots
        self.connected = threading.Event()
        self.crashed = False
        self.unresponsive = False
        self.removed = False
        self.refusal: str | None = None
        self._announced: list[mqtt.MQTTMessageInfo] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"autoglm-sim-{device.device_id}-{uuid.uuid4().hex[:6]}"
        )
        if login is not None:  # a broker that refuses anonymous clients (deploy/mosquitto: user autoglm-sim)
            self.client.username_pw_set(*login)
        self.client.will_set(self.topics.availability, "offline", qos=_QOS, retain=True)
        self.client.max_queued_messages_set(MAX_QUEUED)
        self.client.reconnect_delay_set(1, 5)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_socket_open = _no_delay

    @property
    def log_extra(self) -> dict[str, Any]:
        """Context for log lines about this device."""
        return {"device_id": self.device.device_id, "component": self.device.component}

    def open(self, host: str, port: int) -> None:
        """Start connecting in the background; `connected` is set once announced."""
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def wait_announced(self, deadline: float) -> bool:
        """Wait until the broker acknowledged the announcement published on connect."""
        for info in list(self._announced):
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                return False
            if not info.is_published():
                return False
        return True

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self.refusal = str(reason)
            log.warning("broker refused the device", extra={**self.log_extra, "reason": str(reason)})
            return
        if self.device.commandable:
            client.subscribe([(self.topics.command, _QOS), (self.topics.attribute("+"), _QOS)])
        # Discovery first, then state, then `online`: a consumer that sees `online` finds both retained.
        infos = [] if self.removed else [
            client.publish(discovery_topic(entity.component, entity.object_id, NODE_ID, self.prefix),
                           encode(entity.config), qos=_QOS, retain=True)
            for entity in self.device.discovery()
        ]
        with self.lock:
            infos.append(self.publish_state())
        infos.append(client.publish(self.topics.availability, "online", qos=_QOS, retain=True))
        self._announced = infos
        log.info("device online", extra=self.log_extra)
        self.connected.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self.crashed or self.unresponsive:
            log.debug("command ignored", extra={**self.log_extra, "topic": message.topic})
            return
        if message.retain:
            # A retained command would replay on every reconnect (a stale UNLOCK); real devices never see one.
            log.warning("retained command ignored", extra={**self.log_extra, "topic": message.topic})
            return
        try:
            self.handle(self.topics.attribute_of(message.topic), bytes(message.payload))
        except Exception:  # an exception escaping a paho callback would kill the network thread
            log.exception("command handling failed", extra={**self.log_extra, "topic": message.topic})

    def handle(self, attribute: str | None, payload: bytes) -> None:
        """Apply one command and publish the new state, or publish an error event and change nothing."""
        command: dict[str, Any] | None = None
        with self.lock:
            try:
                command = self.device.decode(attribute, payload)
                self.device.apply_command(command, time.monotonic())
            except CommandRejectedError as exc:
                event = DeviceErrorEvent(error=exc.reason, field=exc.field, command=command)
                self.client.publish(self.topics.error, encode(event.model_dump()), qos=_QOS)
                log.warning("command rejected",
                            extra={**self.log_extra, "field": exc.field, "reason": exc.reason})
                return
            self.publish_state()
        log.info("command applied", extra={**self.log_extra, "command": command})

    def tick(self, now: float, pace: Pace) -> None:
        """Advance the device's clock; publish when its state moved."""
        if self.crashed:
            return
        with self.lock:
            if self.device.tick(now, pace):
                self.publish_state()

    def publish_state(self) -> mqtt.MQTTMessageInfo:
        """Publish the state, retained (caller holds `lock`, so states go out in order)."""
        return self.client.publish(self.topics.state, encode(self.device.state), qos=_QOS, retain=True)

    def snapshot(self) -> dict[str, Any]:
        """A copy of the current state."""
        with self.lock:
            return self.device.snapshot()

    def crash(self) -> None:
        """Stop the network thread and drop the TCP connection without DISCONNECT, so the will fires."""
        self.crashed = True
        self.client.loop_stop()
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        log.warning("device crashed", extra=self.log_extra)

    def remove(self, timeout: float) -> None:
        """Publish empty retained discovery configs: Home Assistant's way of deleting entities."""
        self.removed = True
        for entity in self.device.discovery():
            topic = discovery_topic(entity.component, entity.object_id, NODE_ID, self.prefix)
            self.client.publish(topic, b"", qos=_QOS, retain=True).wait_for_publish(timeout)
        log.info("device removed", extra=self.log_extra)


class SimulatedHome:
    """A home of simulated devices speaking Home Assistant MQTT discovery, as zigbee2mqtt devices do."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        devices: list[SimDevice] | None = None,
        discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX,
        sensor_interval: float = 5.0,
        cover_speed: float = 100.0,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.pace = Pace(sensor_interval=sensor_interval, cover_speed=cover_speed)
        chosen = default_home() if devices is None else devices
        login = (username, password) if username else None
        self._links = {device.device_id: DeviceLink(device, discovery_prefix, login) for device in chosen}
        if len(self._links) != len(chosen):
            raise ConfigError("simulated device ids must be unique")
        self._lifecycle = threading.Lock()
        self._halt = threading.Event()
        self._ticker: threading.Thread | None = None
        self._started = False

    @property
    def device_ids(self) -> list[str]:
        """Ids of every device, in catalogue order."""
        return list(self._links)

    def _link(self, device_id: str) -> DeviceLink:
        try:
            return self._links[device_id]
        except KeyError:
            raise UnknownDeviceError(f"no simulated device {device_id!r}") from None

    def start(self, timeout: float = 10.0) -> None:
        """Connect every device and return once discovery, state and availability are on the broker."""
        with self._lifecycle:
            if self._started:
                return
            deadline = time.monotonic() + timeout
            for link in self._links.values():
                link.open(self.host, self.port)
            for link in self._links.values():
                connected = link.connected.wait(max(0.0, deadline - time.monotonic()))
                if not (connected and link.wait_announced(deadline)):
                    self._shutdown(graceful=False)
                    why = f" (refused: {link.refusal})" if link.refusal else ""
                    raise TransportError(
                        f"MQTT broker {self.host}:{self.port} did not accept device {link.device.device_id} "
                        f"within {timeout:g}s{why}: start one (`autoglm broker`) or pass --host/--port"
                    )
            self._halt.clear()
            self._ticker = threading.Thread(target=self._tick_loop, name="simhome-ticker", daemon=True)
            self._ticker.start()
            self._started = True
            log.info("simulated home started", extra={"devices": len(self._links), "port": self.port})

    def _tick_loop(self) -> None:
        while not self._halt.wait(TICK_SECONDS):
            now = time.monotonic()
            for link in self._links.values():
                try:
                    link.tick(now, self.pace)
                except Exception:  # one faulty device must not stop the clock for the others
                    log.exception("device tick failed", extra=link.log_extra)

    def stop(self) -> None:
        """Publish `offline` for every live device, disconnect cleanly and join every thread."""
        with self._lifecycle:
            if not self._started:
                return
            self._shutdown(graceful=True)
            self._started = False
            log.info("simulated home stopped", extra={"devices": len(self._links)})

    def _shutdown(self, *, graceful: bool) -> None:
        self._halt.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        live = [link for link in self._links.values() if not link.crashed]
        if graceful:
            farewells = [link.client.publish(link.topics.availability, "offline", qos=_QOS, retain=True)
                         for link in live if link.connected.is_set()]
            for info in farewells:
                try:
                    info.wait_for_publish(2.0)
                except (RuntimeError, ValueError):
                    pass  # the broker went away first; the will says offline instead
        # Disconnect all before joining any: DISCONNECT wakes each network thread at once.
        for link in live:
            link.client.disconnect()
        for link in live:
            link.client.loop_stop()
            link.connected.clear()

    def state(self, device_id: str) -> dict[str, Any]:
        """A copy of a device's current state."""
        return self._link(device_id).snapshot()

    def crash(self, device_id: str) -> None:
        """Drop the device's connection uncleanly; the broker then publishes its will (`offline`)."""
        self._link(device_id).crash()

    def set_unresponsive(self, device_id: str, value: bool = True) -> None:
        """Keep the device `online` but make it silently ignore commands."""
        self._link(device_id).unresponsive = value

    def remove(self, device_id: str) -> None:
        """Delete the device's entities from discovery (empty retained configs)."""
        self._link(device_id).remove(timeout=5.0)


async def run_forever(host: str, port: int, *, discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX,
                      username: str | None = None, password: str | None = None) -> None:
    """Run the default home until cancelled, then take every device offline cleanly."""
    home = SimulatedHome(host, port, discovery_prefix=discovery_prefix, username=username, password=password)
    try:
        await asyncio.to_thread(home.start)
        await asyncio.Event().wait()
    finally:
        await asyncio.to_thread(home.stop)
