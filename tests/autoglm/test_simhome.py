"""The simulated home: device behaviour without MQTT, then the protocol against a real broker."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from autoglm.simhome import (
    CommandRejectedError,
    Cover,
    Light,
    MediaPlayer,
    MultiSensor,
    Pace,
    SimulatedHome,
    Switch,
    Thermostat,
    Vacuum,
    default_home,
    run_forever,
)
from bench.reliability.procs import free_port
from shared.codec import decode
from shared.discovery import parse_discovery
from shared.errors import TransportError
from shared.payloads import STATE_MODELS, DeviceErrorEvent, extract
from shared.topics import parse_discovery_topic
from tests.conftest import BrokerInfo

Message = tuple[str, bytes, bool]


# --------------------------------------------------------------------------- devices, no MQTT


def light() -> Light:
    return Light("lamp", "Lamp", "灯", "Study", "书房")


def test_light_brightness_and_colour_imply_on() -> None:
    lamp = light()
    state = lamp.apply_command({"brightness": 128, "color": {"r": 255, "g": 0, "b": 0}}, 0.0)
    assert state == {"state": "ON", "brightness": 128, "color_mode": "rgb",
                     "color": {"r": 255, "g": 0, "b": 0}, "color_temp": 370}
    assert lamp.apply_command({"brightness": 0}, 1.0)["state"] == "OFF"
    assert lamp.state["brightness"] == 128  # remembered for the next ON
    assert lamp.apply_command({"state": "TOGGLE"}, 2.0)["state"] == "ON"
    assert lamp.apply_command({"color_temp": 250}, 3.0)["color_mode"] == "color_temp"
    assert lamp.apply_command({"state": "off", "brightness": 50}, 4.0)["state"] == "OFF"  # explicit state wins


def test_light_converts_hs_and_xy_colours() -> None:
    lamp = light()
    assert lamp.apply_command({"color": {"h": 120, "s": 100}}, 0.0)["color"] == {"r": 0, "g": 255, "b": 0}
    blue = lamp.apply_command({"color": {"x": 0.15, "y": 0.06}}, 1.0)["color"]  # the sRGB blue primary
    assert blue["b"] == 255 and blue["r"] < 10 and blue["g"] < 10


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"brightness": 300}, "brightness"),
        ({"state": "BLUE"}, "state"),
        ({"color": {"r": 256, "g": 0, "b": 0}}, "color"),
        ({"color": "red"}, "color"),
        ({"color_temp": 100}, "color_temp"),
        ({"brightness": True}, "brightness"),
        ({"state": "ON", "effect": "rainbow"}, "effect"),
        ({"state": "ON", "brightness": -1}, "brightness"),
    ],
)
def test_light_rejects_bad_fields_and_keeps_state(command: dict[str, Any], field: str) -> None:
    lamp = light()
    before = lamp.snapshot()
    with pytest.raises(CommandRejectedError) as caught:
        lamp.apply_command(command, 0.0)
    assert caught.value.field == field
    assert lamp.state == before


def test_decode_plain_json_and_attribute_payloads() -> None:
    plug = Switch("plug", "Plug", "插座", "Kitchen", "厨房")
    assert plug.decode(None, b"ON") == {"state": "ON"}
    assert plug.decode(None, b'{"state": "OFF"}') == {"state": "OFF"}
    with pytest.raises(CommandRejectedError) as caught:
        light().decode(None, b"not json")
    assert caught.value.field is None
    with pytest.raises(CommandRejectedError):
        light().decode(None, b"42")
    thermostat = Thermostat("t", "T", "温控器", "Hall", "走廊")
    assert thermostat.decode("occupied_heating_setpoint", b"21.5") == {"occupied_heating_setpoint": 21.5}
    assert thermostat.decode("system_mode", b"heat") == {"system_mode": "heat"}
    with pytest.raises(CommandRejectedError) as caught:
        thermostat.decode("fan_mode", b"auto")
    assert caught.value.field == "fan_mode"
    with pytest.raises(CommandRejectedError):
        plug.decode(None, b"\xff\xfe")


def test_switch_power_follows_state() -> None:
    plug = Switch("plug", "Plug", "插座", "Kitchen", "厨房", watts=1000.0)
    on = plug.apply_command({"state": "ON"}, 0.0)
    assert on["state"] == "ON" and 970 <= on["power"] <= 1030
    assert plug.apply_command({"state": "TOGGLE"}, 1.0) == {"state": "OFF", "power": 0.0}


def test_thermostat_rounds_rejects_and_drifts_to_setpoint() -> None:
    thermostat = Thermostat("t", "T", "温控器", "Hall", "走廊")
    assert thermostat.apply_command({"occupied_heating_setpoint": 22.3}, 0.0)["occupied_heating_setpoint"] == 22.5
    with pytest.raises(CommandRejectedError) as caught:
        thermostat.apply_command({"occupied_heating_setpoint": 45}, 0.0)
    assert caught.value.field == "occupied_heating_setpoint"
    assert thermostat.state["occupied_heating_setpoint"] == 22.5
    pace = Pace(sensor_interval=1.0)
    temps, running = [], []
    for second in range(0, 400, 10):
        thermostat.tick(float(second), pace)
        temps.append(thermostat.state["local_temperature"])
        running.append(thermostat.state["running_state"])
    warmed = temps.index(22.5)
    assert temps[0] < 20 and temps[: warmed + 1] == sorted(temps[: warmed + 1])
    assert all(22.0 <= t <= 22.5 for t in temps[warmed:])  # then cycles around the setpoint
    assert "idle" in running[warmed:] and "heat" in running[warmed + 1 :]
    thermostat.apply_command({"system_mode": "off"}, 400.0)
    thermostat.tick(4000.0, pace)
    assert thermostat.state["local_temperature"] < 21 and thermostat.state["running_state"] == "idle"


def test_cover_moves_with_time_and_stops() -> None:
    cover = Cover("c", "Curtains", "窗帘", "Living Room", "客厅")
    pace = Pace(cover_speed=100.0, report_every=0.2)
    assert cover.apply_command({"state": "OPEN"}, 0.0) == {"state": "opening", "position": 0}
    assert cover.tick(0.1, pace) is False and cover.state["position"] == 10  # moving, not yet reported
    assert cover.tick(0.25, pace) is True and cover.state == {"state": "opening", "position": 25}
    cover.apply_command({"state": "STOP"}, 0.3)
    assert cover.state == {"state": "open", "position": 25} and not cover.moving
    cover.apply_command({"position": 0}, 1.0)
    assert cover.state["state"] == "closing"
    cover.tick(2.0, pace)
    assert cover.state == {"state": "closed", "position": 0}
    with pytest.raises(CommandRejectedError) as caught:
        cover.apply_command({"position": 101}, 3.0)
    assert caught.value.field == "position"


def test_vacuum_cleans_returns_and_docks() -> None:
    vacuum = Vacuum("v", "Vacuum", "扫地机器人", "Living Room", "客厅")
    pace = Pace()
    vacuum.tick(0.0, pace)
    assert vacuum.apply_command({"command": "start"}, 0.0)["state"] == "cleaning"
    vacuum.tick(10.0, pace)
    assert vacuum.state["battery_level"] == 98
    assert vacuum.apply_command({"command": "return_to_base"}, 10.0)["state"] == "returning"
    assert vacuum.tick(10.2, pace) is False and vacuum.state["state"] == "returning"
    assert vacuum.tick(10.6, pace) is True and vacuum.state["state"] == "docked"
    with pytest.raises(CommandRejectedError) as caught:
        vacuum.apply_command({"fan_speed": "max"}, 11.0)
    assert caught.value.field == "fan_speed"


def test_vacuum_goes_home_on_low_battery() -> None:
    vacuum = Vacuum("v", "Vacuum", "扫地机器人", "Living Room", "客厅")
    vacuum.tick(0.0, Pace())
    vacuum.apply_command({"command": "start"}, 0.0)
    vacuum.tick(460.0, Pace())
    assert vacuum.state["state"] == "returning" and vacuum.state["battery_level"] <= 10
    vacuum.tick(461.0, Pace())
    vacuum.apply_command({"command": "stop"}, 461.0)
    assert vacuum.state["state"] == "docked"


def test_media_player_actions() -> None:
    media = MediaPlayer("m", "Speaker", "音箱", "Living Room", "客厅")
    state = media.apply_command({"state": "playing", "volume": 0.5}, 0.0)
    assert (state["state"], state["volume"]) == ("playing", 0.5)
    assert media.apply_command({"action": "next"}, 1.0)["media_title"] == MediaPlayer.playlist[1]
    assert media.apply_command({"action": "volume_up"}, 2.0)["volume"] == 0.6
    assert media.apply_command({"action": "mute"}, 3.0)["volume"] == 0.0
    assert media.apply_command({"action": "mute"}, 4.0)["volume"] == 0.6
    with pytest.raises(CommandRejectedError) as caught:
        media.apply_command({"volume": 2}, 5.0)
    assert caught.value.field == "volume"


def test_sensor_reports_every_interval() -> None:
    sensor = MultiSensor("s", "Sensor", "传感器", "Bedroom", "卧室", temperature=20.0, humidity=50.0)
    pace = Pace(sensor_interval=5.0)
    assert [sensor.tick(t, pace) for t in (0.0, 4.9, 5.0, 9.0, 10.0)] == [False, False, True, False, True]
    assert abs(sensor.state["temperature"] - 20.0) < 1 and abs(sensor.state["humidity"] - 50.0) < 3
    with pytest.raises(CommandRejectedError):
        sensor.apply_command({"temperature": 30}, 0.0)


def test_every_default_discovery_config_parses_and_its_templates_read_the_state() -> None:
    devices = default_home()
    assert len({d.device_id for d in devices}) == len(devices) == 15
    for device in devices:
        for entity in device.discovery():
            config = parse_discovery(entity.component, json.dumps(entity.config))
            assert config is not None and config.unique_id == f"autoglm_sim_{entity.object_id}"
            assert config.state_topic == f"autoglm-sim/{device.device_id}"
            value = extract(config.value_template, device.state) if config.value_template else None
            if entity.component in ("switch", "lock", "cover", "media_player"):
                assert value == device.state["state"]
            if entity.component in STATE_MODELS:
                STATE_MODELS[entity.component].model_validate(device.state)


# --------------------------------------------------------------------------- over a real broker


class Observer:
    """A paho client that records every message on `topics`, for assertions."""

    def __init__(self, broker: BrokerInfo, *topics: str) -> None:
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe([(topic, 1) for topic in topics or ("#",)])
        assert subscribed.wait(5), "observer could not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def mark(self) -> int:
        with self._cond:
            return len(self.messages)

    def wait_for(self, match: Callable[[Message], bool], since: int = 0, timeout: float = 5.0) -> Message:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self.messages[since:]:
                    if match(message):
                        return message
                left = deadline - time.monotonic()
                assert left > 0, f"no matching message in {self.messages[since:]!r}"
                self._cond.wait(left)

    def wait_count(self, count: int, timeout: float = 5.0) -> list[Message]:
        """Wait until at least `count` messages arrived, then a moment more for stragglers."""
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.messages) >= count, timeout), self.messages
        time.sleep(0.1)
        with self._cond:
            return list(self.messages)

    def on(self, topic: str, since: int = 0) -> list[bytes]:
        """Live (not retained) payloads on `topic` since `since`."""
        with self._cond:
            return [payload for t, payload, retained in self.messages[since:] if t == topic and not retained]

    def send(self, topic: str, payload: str | bytes) -> int:
        mark = self.mark()
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)
        return mark

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def state_is(device_id: str, **expected: Any) -> Callable[[Message], bool]:
    def match(message: Message) -> bool:
        topic, payload, retained = message
        if retained or topic != f"autoglm-sim/{device_id}":
            return False
        state = json.loads(payload)
        return all(state.get(key) == value for key, value in expected.items())

    return match


def on_topic(topic: str, payload: bytes | None = None) -> Callable[[Message], bool]:
    return lambda m: m[0] == topic and (payload is None or m[1] == payload)


@pytest.fixture
def home(broker: BrokerInfo) -> Iterator[SimulatedHome]:
    sim = SimulatedHome(broker.host, broker.port, sensor_interval=0.3, cover_speed=50.0)
    sim.start(timeout=10)
    yield sim
    sim.stop()


@pytest.fixture
def observer(broker: BrokerInfo) -> Iterator[Observer]:
    watcher = Observer(broker)
    yield watcher
    watcher.close()


def test_discovery_configs_are_retained_and_parse(broker: BrokerInfo, home: SimulatedHome) -> None:
    expected = sum(len(d.discovery()) for d in default_home())
    watcher = Observer(broker, "homeassistant/#")  # subscribes after start: sees only retained configs
    messages = watcher.wait_count(expected)
    watcher.close()
    assert len(messages) == expected == 17
    configs = {}
    for topic, payload, retained in messages:
        assert retained
        where = parse_discovery_topic(topic)
        assert where.node_id == "autoglm_sim"
        config = parse_discovery(where.component, payload)
        assert config is not None and config.object_id == where.object_id
        configs[where.object_id] = config
    kinds: list[str] = [c.component for c in configs.values()]
    for component, count in [("light", 6), ("switch", 2), ("climate", 1), ("cover", 1), ("lock", 1),
                             ("vacuum", 1), ("media_player", 1), ("sensor", 4)]:
        assert kinds.count(component) == count, component
    ceiling = configs["living_room_ceiling"]
    assert ceiling.unique_id == "autoglm_sim_living_room_ceiling" and ceiling.schema_ == "json"
    assert ceiling.brightness_scale == 255 and ceiling.supported_color_modes == ["rgb", "color_temp"]
    assert ceiling.command_topic == "autoglm-sim/living_room_ceiling/set"
    assert ceiling.availability_topic == "autoglm-sim/living_room_ceiling/availability"
    assert ceiling.model_extra is not None
    assert ceiling.model_extra["error_topic"] == "autoglm-sim/living_room_ceiling/error"
    assert ceiling.device is not None and ceiling.device.suggested_area == "Living Room"
    assert ceiling.model_extra is not None and ceiling.model_extra["aliases"] == {"zh-cn": ["客厅吊灯"]}
    assert ceiling.model_extra["suggested_area_aliases"] == {"zh-cn": "客厅"}
    thermostat = configs["thermostat"]
    assert thermostat.temperature_command_topic == "autoglm-sim/thermostat/set/occupied_heating_setpoint"
    assert (thermostat.min_temp, thermostat.max_temp, thermostat.modes) == (5, 30, ["off", "heat", "cool", "auto"])
    assert configs["curtains"].set_position_topic == "autoglm-sim/curtains/set/position"
    assert configs["front_door"].device is not None and configs["front_door"].device.suggested_area == "Hallway"
    assert configs["vacuum"].fan_speed_list == ["quiet", "standard", "turbo"]
    humidity = configs["bedroom_sensor_humidity"]
    assert (humidity.unit_of_measurement, humidity.device_class) == ("%", "humidity")
    assert humidity.model_extra is not None and humidity.model_extra["aliases"] == {"zh-cn": ["卧室湿度"]}
    assert configs["coffee_plug"].model_extra is not None
    assert configs["coffee_plug"].model_extra["aliases"] == {"zh-cn": ["咖啡机"]}


def test_state_and_availability_are_retained(broker: BrokerInfo, home: SimulatedHome) -> None:
    watcher = Observer(broker, "autoglm-sim/#")
    for device_id in home.device_ids:
        watcher.wait_for(on_topic(f"autoglm-sim/{device_id}/availability", b"online"))
        _, payload, retained = watcher.wait_for(on_topic(f"autoglm-sim/{device_id}"))
        assert retained and json.loads(payload) == home.state(device_id)
    watcher.close()


def test_light_obeys_and_reports(home: SimulatedHome, observer: Observer) -> None:
    since = observer.send("autoglm-sim/living_room_ceiling/set",
                          '{"state":"ON","brightness":128,"color":{"r":255,"g":0,"b":0}}')
    observer.wait_for(state_is("living_room_ceiling", brightness=128), since)
    reported = json.loads(observer.on("autoglm-sim/living_room_ceiling", since)[-1])
    assert reported["state"] == "ON" and reported["color"] == {"r": 255, "g": 0, "b": 0}
    assert reported["color_mode"] == "rgb" and home.state("living_room_ceiling") == reported
    since = observer.send("autoglm-sim/living_room_ceiling/set", '{"state":"ON"}')  # no change: still confirmed
    observer.wait_for(state_is("living_room_ceiling", brightness=128), since)


def test_out_of_scale_brightness_is_an_error_event(home: SimulatedHome, observer: Observer) -> None:
    before = home.state("kitchen_light")
    since = observer.send("autoglm-sim/kitchen_light/set", '{"state":"ON","brightness":300}')
    _, payload, retained = observer.wait_for(on_topic("autoglm-sim/kitchen_light/error"), since)
    event = decode(DeviceErrorEvent, payload)
    assert not retained and event.field == "brightness" and "300" in event.error
    assert event.command == {"state": "ON", "brightness": 300}
    assert home.state("kitchen_light") == before
    assert observer.on("autoglm-sim/kitchen_light", since) == []


def test_not_json_is_an_error_event(home: SimulatedHome, observer: Observer) -> None:
    since = observer.send("autoglm-sim/bedroom_light/set", b"turn it on please")
    _, payload, _ = observer.wait_for(on_topic("autoglm-sim/bedroom_light/error"), since)
    assert json.loads(payload) == {"error": json.loads(payload)["error"], "field": None, "command": None}
    assert home.state("bedroom_light")["state"] == "OFF"


def test_plug_takes_plain_and_json_payloads(home: SimulatedHome, observer: Observer) -> None:
    since = observer.send("autoglm-sim/coffee_plug/set", "ON")
    _, payload, _ = observer.wait_for(state_is("coffee_plug", state="ON"), since)
    assert json.loads(payload)["power"] > 1000
    since = observer.send("autoglm-sim/coffee_plug/set", '{"state": "OFF"}')
    observer.wait_for(state_is("coffee_plug", state="OFF", power=0.0), since)
    since = observer.send("autoglm-sim/tv_plug/set", "BLUE")
    _, payload, _ = observer.wait_for(on_topic("autoglm-sim/tv_plug/error"), since)
    assert json.loads(payload)["field"] == "state"


def test_thermostat_attribute_topics_and_range(home: SimulatedHome, observer: Observer) -> None:
    since = observer.send("autoglm-sim/thermostat/set/occupied_heating_setpoint", "21.5")
    observer.wait_for(state_is("thermostat", occupied_heating_setpoint=21.5), since)
    since = observer.send("autoglm-sim/thermostat/set/system_mode", "cool")
    observer.wait_for(state_is("thermostat", system_mode="cool"), since)
    since = observer.send("autoglm-sim/thermostat/set", '{"system_mode": "heat", "occupied_heating_setpoint": 23}')
    observer.wait_for(state_is("thermostat", system_mode="heat", occupied_heating_setpoint=23.0), since)
    since = observer.send("autoglm-sim/thermostat/set/occupied_heating_setpoint", "45")
    _, payload, _ = observer.wait_for(on_topic("autoglm-sim/thermostat/error"), since)
    assert json.loads(payload)["field"] == "occupied_heating_setpoint"
    assert home.state("thermostat")["occupied_heating_setpoint"] == 23.0


def test_cover_moves_over_time(home: SimulatedHome, observer: Observer) -> None:
    started = time.monotonic()
    since = observer.send("autoglm-sim/curtains/set/position", "40")
    observer.wait_for(state_is("curtains", state="open", position=40), since)
    elapsed = time.monotonic() - started
    states = [json.loads(p) for p in observer.on("autoglm-sim/curtains", since)]
    assert states[0]["state"] == "opening"
    between = [s["position"] for s in states if s["state"] == "opening" and 0 < s["position"] < 40]
    assert between and between == sorted(between)
    assert 0.6 < elapsed < 3.0  # 40% at 50%/s
    since = observer.send("autoglm-sim/curtains/set", '{"position": 30}')
    observer.wait_for(state_is("curtains", state="closing"), since)
    observer.wait_for(state_is("curtains", state="open", position=30), since)


def test_lock_and_unlock(home: SimulatedHome, observer: Observer) -> None:
    since = observer.send("autoglm-sim/front_door/set", "UNLOCK")
    observer.wait_for(state_is("front_door", state="UNLOCKED"), since)
    since = observer.send("autoglm-sim/front_door/set", '{"state": "LOCK"}')
    observer.wait_for(state_is("front_door", state="LOCKED"), since)
    assert home.state("front_door") == {"state": "LOCKED"}


def test_vacuum_cleans_and_returns_to_dock(home: SimulatedHome, observer: Observer) -> None:
    since = observer.send("autoglm-sim/vacuum/set", "start")
    observer.wait_for(state_is("vacuum", state="cleaning"), since)
    since = observer.send("autoglm-sim/vacuum/set/fan_speed", "turbo")
    observer.wait_for(state_is("vacuum", fan_speed="turbo"), since)
    since = observer.send("autoglm-sim/vacuum/set", "return_to_base")
    observer.wait_for(state_is("vacuum", state="returning"), since)
    observer.wait_for(state_is("vacuum", state="docked"), since, timeout=3)


def test_media_player_commands(home: SimulatedHome, observer: Observer) -> None:
    since = observer.send("autoglm-sim/media/set", '{"state": "playing", "volume": 0.4}')
    observer.wait_for(state_is("media", state="playing", volume=0.4), since)
    since = observer.send("autoglm-sim/media/set", '{"action": "next"}')
    observer.wait_for(state_is("media", media_title=MediaPlayer.playlist[1]), since)


def test_sensors_report_periodically(home: SimulatedHome, observer: Observer) -> None:
    since = observer.mark()
    time.sleep(1.0)  # sensor_interval is 0.3 s
    readings = [json.loads(p) for p in observer.on("autoglm-sim/bedroom_sensor", since)]
    assert len(readings) >= 2
    assert all(15 < r["temperature"] < 26 and 40 < r["humidity"] < 60 for r in readings)


def test_crash_fires_the_will(broker: BrokerInfo, home: SimulatedHome, observer: Observer) -> None:
    availability = "autoglm-sim/front_door/availability"
    since = observer.mark()
    home.crash("front_door")
    observer.wait_for(on_topic(availability, b"offline"), since)
    late = Observer(broker, availability)
    assert late.wait_for(on_topic(availability)) == (availability, b"offline", True)
    late.close()
    since = observer.send("autoglm-sim/front_door/set", "UNLOCK")
    time.sleep(0.4)
    assert observer.on("autoglm-sim/front_door", since) == [] and home.state("front_door")["state"] == "LOCKED"
    # The others are untouched.
    since = observer.send("autoglm-sim/tv_plug/set", "ON")
    observer.wait_for(state_is("tv_plug", state="ON"), since)


def test_unresponsive_device_stays_online_and_ignores(
    broker: BrokerInfo, home: SimulatedHome, observer: Observer
) -> None:
    home.set_unresponsive("study_light")
    since = observer.send("autoglm-sim/study_light/set", '{"state": "ON"}')
    time.sleep(0.4)
    assert observer.on("autoglm-sim/study_light", since) == [] and home.state("study_light")["state"] == "OFF"
    late = Observer(broker, "autoglm-sim/study_light/availability")
    assert late.wait_for(lambda m: True)[1] == b"online"
    late.close()
    home.set_unresponsive("study_light", False)
    since = observer.send("autoglm-sim/study_light/set", '{"state": "ON"}')
    observer.wait_for(state_is("study_light", state="ON"), since)


def test_remove_clears_discovery(broker: BrokerInfo, home: SimulatedHome, observer: Observer) -> None:
    since = observer.mark()
    home.remove("bedroom_sensor")
    for key in ("temperature", "humidity"):
        topic = f"homeassistant/sensor/autoglm_sim/bedroom_sensor_{key}/config"
        _, payload, retained = observer.wait_for(on_topic(topic, b""), since)
        assert not retained and parse_discovery("sensor", payload) is None
    late = Observer(broker, "homeassistant/sensor/#")
    messages = late.wait_count(2)
    late.close()
    assert sorted(parse_discovery_topic(t).object_id for t, _, _ in messages) == [
        "living_room_sensor_humidity", "living_room_sensor_temperature"]


def test_stop_publishes_offline(broker: BrokerInfo, home: SimulatedHome, observer: Observer) -> None:
    since = observer.mark()
    home.stop()
    for device_id in home.device_ids:
        observer.wait_for(on_topic(f"autoglm-sim/{device_id}/availability", b"offline"), since)
    late = Observer(broker, "autoglm-sim/+/availability")
    messages = late.wait_count(len(home.device_ids))
    late.close()
    assert {t: p for t, p, _ in messages} == {
        f"autoglm-sim/{d}/availability": b"offline" for d in home.device_ids}


def test_start_without_broker_raises_transport_error() -> None:
    sim = SimulatedHome("127.0.0.1", free_port(), devices=[light()])
    started = time.monotonic()
    with pytest.raises(TransportError, match="did not accept"):
        sim.start(timeout=0.5)
    assert time.monotonic() - started < 3
    sim.stop()  # harmless after a failed start


def test_run_forever_until_cancelled(broker: BrokerInfo, observer: Observer) -> None:
    ids = [d.device_id for d in default_home()]

    async def main() -> None:
        task = asyncio.create_task(run_forever(broker.host, broker.port))
        for device_id in ids:
            topic = f"autoglm-sim/{device_id}/availability"
            await asyncio.to_thread(observer.wait_for, on_topic(topic, b"online"))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    since = observer.mark()
    asyncio.run(main())
    for device_id in ids:
        observer.wait_for(on_topic(f"autoglm-sim/{device_id}/availability", b"offline"), since)
