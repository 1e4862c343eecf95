"""The kill -9 scenario's negative control: the real edge with `Safeguards(ack_after_commit=False)`.

Run as `python -m bench.reliability.early_ack_edge edge run --config FILE --log-level LEVEL` (what
`EdgeProcess(..., entry=ENTRY)` runs instead of `autoglm.cli`). Its MQTT buses acknowledge a QoS 1 message on
arrival, before the daemon has committed its change, so whatever sits in the inbound queue when the process is
killed is gone: the broker believes it was delivered and never sends it again.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from autoglm.logs import setup_logging
from edge.config import Safeguards, load_settings
from edge.daemon import run_daemon

#: The module `EdgeProcess` runs instead of `autoglm.cli`.
ENTRY = "bench.reliability.early_ack_edge"


def main() -> None:
    """`edge run --config FILE [--log-level LEVEL]`, as `autoglm` takes it, with acknowledgement on arrival."""
    parser = argparse.ArgumentParser(prog=ENTRY)
    parser.add_argument("side", choices=["edge"])
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    setup_logging(args.log_level)
    settings = load_settings(args.config)
    try:
        asyncio.run(run_daemon(settings, Safeguards(ack_after_commit=False)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
