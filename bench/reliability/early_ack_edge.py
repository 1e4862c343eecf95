"""The kill -9 scenario's negative control: `autoglm edge ...` with its MQTT buses' `ack_after_commit` off.

Run as `python -m bench.reliability.early_ack_edge edge run --config FILE` (`EdgeProcess(..., entry=ENTRY)`). Each
`PahoBus` acknowledges a QoS 1 message on arrival, before the daemon has committed its change, so whatever sits in
the inbound queue when the process is killed is gone: the broker believes it was delivered and never sends it again.
The edge's settings have no field for the flag, so the composition root is handed a `PahoBus` factory with the flag
off; the bus itself is the real one.
"""

from __future__ import annotations

from typing import Any

import edge.daemon
from autoglm.cli import app
from edge.io.mqtt import PahoBus

#: The module `EdgeProcess` runs instead of `autoglm.cli`.
ENTRY = "bench.reliability.early_ack_edge"


def early_ack_bus(*args: Any, **kwargs: Any) -> PahoBus:
    """The daemon's `PahoBus(...)`, acknowledging on arrival."""
    return PahoBus(*args, **kwargs, ack_after_commit=False)


if __name__ == "__main__":
    if getattr(edge.daemon, "PahoBus", None) is not PahoBus:  # the control would silently control nothing
        raise SystemExit("edge.daemon no longer builds its buses from edge.io.mqtt.PahoBus: update early_ack_edge")
    edge.daemon.PahoBus = early_ack_bus  # the composition root's one reference to the bus class
    app()
