"""Random synthetic homes for the tiny planner's training data: devices with English and Chinese names and areas."""

from __future__ import annotations

import random
from dataclasses import dataclass

from cloud.fleet import Device


@dataclass(frozen=True, slots=True)
class Area:
    """A room, with the id stem and the names people use for it."""

    key: str
    en: str
    zh: str


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of device: HA domain, optional device class, names, and the rooms it may be in (empty = any)."""

    key: str
    domain: str
    en: str
    zh: str
    device_class: str | None = None
    areas: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HomeDevice:
    """A device of a synthetic home: the cloud's view plus the names used to talk about it."""

    device: Device
    kind: Kind
    area: Area
    name_zh: str

    @property
    def name_en(self) -> str:
        """The English name (the one the cloud knows)."""
        return self.device.name


@dataclass(frozen=True, slots=True)
class Home:
    """One synthetic home: devices in listing order (by id)."""

    devices: tuple[HomeDevice, ...]

    def fleet(self) -> list[Device]:
        """The devices as `cloud.fleet.Device`, in listing order."""
        return [d.device for d in self.devices]

    def where(self, *, domain: str | None = None, area: str | None = None, kind: str | None = None,
              device_class: str | None = None) -> list[HomeDevice]:
        """Devices matching every given filter, in listing order."""
        return [d for d in self.devices
                if (domain is None or d.device.domain == domain) and (area is None or d.area.key == area)
                and (kind is None or d.kind.key == kind)
                and (device_class is None or d.device.device_class == device_class)]


AREAS: tuple[Area, ...] = (
    Area("living_room", "Living Room", "客厅"), Area("kitchen", "Kitchen", "厨房"), Area("bedroom", "Bedroom", "卧室"),
    Area("master_bedroom", "Master Bedroom", "主卧"), Area("kids_room", "Kids Room", "儿童房"),
    Area("guest_room", "Guest Room", "客房"), Area("study", "Study", "书房"), Area("office", "Office", "办公室"),
    Area("bathroom", "Bathroom", "浴室"), Area("dining_room", "Dining Room", "餐厅"),
    Area("hallway", "Hallway", "走廊"),
    Area("balcony", "Balcony", "阳台"), Area("garage", "Garage", "车库"), Area("garden", "Garden", "花园"),
    Area("laundry_room", "Laundry Room", "洗衣房"),
)
_DOORS = ("hallway", "garage", "kitchen", "living_room")
_INDOOR = tuple(a.key for a in AREAS if a.key not in ("garden", "balcony", "garage"))

KINDS: tuple[Kind, ...] = (
    Kind("light", "light", "Light", "灯"), Kind("ceiling_light", "light", "Ceiling Light", "吊灯"),
    Kind("floor_lamp", "light", "Floor Lamp", "落地灯"), Kind("desk_lamp", "light", "Desk Lamp", "台灯"),
    Kind("bedside_lamp", "light", "Bedside Lamp", "床头灯", areas=("bedroom", "master_bedroom", "guest_room")),
    Kind("light_strip", "light", "Light Strip", "灯带"), Kind("spotlight", "light", "Spotlight", "射灯"),
    Kind("coffee_machine", "switch", "Coffee Machine", "咖啡机", areas=("kitchen", "dining_room", "office")),
    Kind("tv_plug", "switch", "TV Plug", "电视插座", areas=("living_room", "bedroom", "master_bedroom")),
    Kind("kettle", "switch", "Kettle", "电水壶", areas=("kitchen",)), Kind("plug", "switch", "Smart Plug", "智能插座"),
    Kind("heater", "switch", "Heater", "取暖器", areas=_INDOOR),
    Kind("washing_machine", "switch", "Washing Machine", "洗衣机", areas=("laundry_room", "bathroom", "balcony")),
    Kind("water_heater", "switch", "Water Heater", "热水器", areas=("bathroom", "kitchen")),
    Kind("fan", "fan", "Fan", "风扇", areas=_INDOOR), Kind("ceiling_fan", "fan", "Ceiling Fan", "吊扇", areas=_INDOOR),
    Kind("exhaust_fan", "fan", "Exhaust Fan", "排气扇", areas=("bathroom", "kitchen", "laundry_room")),
    Kind("thermostat", "climate", "Thermostat", "温控器", areas=_INDOOR),
    Kind("air_conditioner", "climate", "Air Conditioner", "空调", areas=_INDOOR),
    Kind("floor_heating", "climate", "Floor Heating", "地暖", areas=_INDOOR),
    Kind("curtains", "cover", "Curtains", "窗帘", device_class="curtain", areas=_INDOOR),
    Kind("blinds", "cover", "Blinds", "百叶窗", device_class="blind", areas=_INDOOR),
    Kind("garage_door", "cover", "Garage Door", "车库门", device_class="garage", areas=("garage",)),
    Kind("gate", "cover", "Gate", "大门", device_class="gate", areas=("garden",)),
    Kind("front_door_lock", "lock", "Front Door Lock", "前门锁", areas=("hallway",)),
    Kind("back_door_lock", "lock", "Back Door Lock", "后门锁", areas=("kitchen", "garden", "garage")),
    Kind("door_lock", "lock", "Door Lock", "门锁", areas=_DOORS),
    Kind("robot_vacuum", "vacuum", "Robot Vacuum", "扫地机器人", areas=("living_room", "hallway", "study")),
    Kind("speaker", "media_player", "Speaker", "音箱"),
    Kind("tv", "media_player", "TV", "电视", areas=("living_room", "bedroom", "master_bedroom", "kids_room")),
    Kind("alarm", "alarm_control_panel", "Alarm", "警报器", areas=("hallway", "living_room")),
    Kind("temperature", "sensor", "Temperature", "温度", device_class="temperature", areas=_INDOOR),
    Kind("humidity", "sensor", "Humidity", "湿度", device_class="humidity", areas=(*_INDOOR, "balcony")),
    Kind("motion", "binary_sensor", "Motion", "人体感应", device_class="motion"),
    Kind("window", "binary_sensor", "Window", "窗户", device_class="window", areas=_INDOOR),
)
#: Kinds always named after their room ("Bedroom Temperature"), as sensors usually are.
_AREA_NAMED = frozenset({"light", "temperature", "humidity", "motion", "window"})
#: Prefixes real unique ids carry (bridge or node names); "" for none.
ID_PREFIXES: tuple[str, ...] = ("", "", "autoglm_sim_", "zigbee_", "home_", "hue_", "tasmota_", "esp_")


def _slug(text: str) -> str:
    return "_".join(text.lower().split())


def _device_id(rng: random.Random, prefix: str, kind: Kind, area: Area, name: str) -> str:
    # Mixed id styles, so a model must copy ids from the listing instead of deriving them from names.
    style = rng.choices(range(4), (35, 30, 20, 15))[0]
    if style == 0:
        stem = _slug(name)
    elif style == 1:
        stem = f"{area.key}_{kind.key}"
    elif style == 2:
        stem = kind.key
    else:
        stem = f"{kind.domain}_{rng.randint(1, 9)}"
    return f"{prefix}{stem}"


def random_home(rng: random.Random, *, min_devices: int = 4, max_devices: int = 14, edge_id: str = "edge-1",
                site: str = "home") -> Home:
    """A home of `min_devices`..`max_devices` devices in 2-6 rooms, every id and name unique."""
    rooms = rng.sample(AREAS, rng.randint(2, 6))
    want = rng.randint(min_devices, max_devices)
    prefix = rng.choice(ID_PREFIXES)
    devices: list[HomeDevice] = []
    ids: set[str] = set()
    names: set[str] = set()
    tries = 0
    while len(devices) < want and tries < want * 20:
        tries += 1
        area = rng.choice(rooms)
        kind = rng.choice(KINDS)
        if kind.areas and area.key not in kind.areas:
            continue
        bare = kind.key not in _AREA_NAMED and rng.random() < 0.5
        name_en = kind.en if bare else f"{area.en} {kind.en}"
        name_zh = kind.zh if bare else f"{area.zh}{kind.zh}"
        if name_en in names or f"{area.en} {kind.en}" in names or any(
                d.kind.key == kind.key and d.area.key == area.key for d in devices):
            continue
        if any(d.kind.key == kind.key and (bare or d.name_en == kind.en) for d in devices):
            continue  # a bare name ("Floor Lamp") must stay unambiguous
        device_id = _device_id(rng, prefix, kind, area, name_en)
        while device_id in ids:
            device_id = f"{device_id}_{rng.randint(2, 9)}"
        ids.add(device_id)
        names.add(name_en)
        device = Device(device_id=device_id, edge_id=edge_id, site=site, domain=kind.domain, name=name_en,
                        area=area.en, device_class=kind.device_class)
        devices.append(HomeDevice(device, kind, area, name_zh))
    # Listed by id, the order the prompt's device listing uses, so "every light" plans follow the listing.
    return Home(tuple(sorted(devices, key=lambda d: d.device.device_id)))
