"""The default simulated home: fifteen devices across five rooms, named in English and Chinese."""

from __future__ import annotations

from autoglm.simhome.appliances import Light, Lock, MediaPlayer, Switch
from autoglm.simhome.devices import SimDevice
from autoglm.simhome.timed import Cover, MultiSensor, Thermostat, Vacuum

LIVING_ROOM = ("Living Room", "客厅")
KITCHEN = ("Kitchen", "厨房")
BEDROOM = ("Bedroom", "卧室")
STUDY = ("Study", "书房")
HALLWAY = ("Hallway", "走廊")


def default_home() -> list[SimDevice]:
    """Fresh device objects for the demo home (a new list each call, so homes never share state)."""
    return [
        Light("living_room_ceiling", "Living Room Ceiling Light", "客厅吊灯", *LIVING_ROOM),
        Light("living_room_lamp", "Floor Lamp", "落地灯", *LIVING_ROOM),
        Light("kitchen_light", "Kitchen Light", "厨房灯", *KITCHEN),
        Light("bedroom_light", "Bedroom Light", "卧室灯", *BEDROOM),
        Light("bedside_lamp", "Bedside Lamp", "床头灯", *BEDROOM),
        Light("study_light", "Desk Lamp", "台灯", *STUDY),
        Switch("coffee_plug", "Coffee Machine", "咖啡机", *KITCHEN, watts=1200.0),
        Switch("tv_plug", "TV Plug", "电视插座", *LIVING_ROOM, watts=85.0),
        Thermostat("thermostat", "Thermostat", "温控器", *LIVING_ROOM),
        Cover("curtains", "Curtains", "窗帘", *LIVING_ROOM),
        Lock("front_door", "Front Door Lock", "前门锁", *HALLWAY),
        Vacuum("vacuum", "Robot Vacuum", "扫地机器人", *LIVING_ROOM),
        MediaPlayer("media", "Living Room Speaker", "客厅音箱", *LIVING_ROOM),
        MultiSensor("bedroom_sensor", "Bedroom Sensor", "卧室传感器", *BEDROOM,
                    temperature=20.5, humidity=50.0),
        MultiSensor("living_room_sensor", "Living Room Sensor", "客厅传感器", *LIVING_ROOM,
                    temperature=22.0, humidity=44.0),
    ]
