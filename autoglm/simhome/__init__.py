"""A simulated home whose devices speak Home Assistant MQTT discovery, exactly as zigbee2mqtt devices do."""

from autoglm.simhome.appliances import Light, Lock, MediaPlayer, Switch
from autoglm.simhome.catalog import default_home
from autoglm.simhome.devices import CommandRejectedError, DeviceTopics, Entity, Pace, SimDevice
from autoglm.simhome.home import SimulatedHome, run_forever
from autoglm.simhome.timed import Cover, MultiSensor, Thermostat, Vacuum

__all__ = [
    "CommandRejectedError",
    "Cover",
    "DeviceTopics",
    "Entity",
    "Light",
    "Lock",
    "MediaPlayer",
    "MultiSensor",
    "Pace",
    "SimDevice",
    "SimulatedHome",
    "Switch",
    "Thermostat",
    "Vacuum",
    "default_home",
    "run_forever",
]
