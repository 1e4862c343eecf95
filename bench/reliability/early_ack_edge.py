"""The kill -9 scenario's negative control: `autoglm edge ...` with QoS 1 messages acknowledged on arrival.

Run as `python -m bench.reliability.early_ack_edge edge run --config FILE`. The edge's MQTT adapter acknowledges
each QoS 1 message to the broker before the daemon has committed its change, so whatever sits in the inbound
queue when the process is killed is gone: the broker believes it was delivered and never sends it again.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho

from autoglm.cli import app
from edge.io.mqtt import PahoBus

_on_message = PahoBus._on_message


def _ack_on_arrival(self: PahoBus, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
    if msg.qos > 0:
        client.ack(msg.mid, msg.qos)
        msg.qos = 0  # the daemon's own ack after commit becomes a no-op
    _on_message(self, client, userdata, msg)


PahoBus._on_message = _ack_on_arrival  # type: ignore[method-assign]

if __name__ == "__main__":
    app()
