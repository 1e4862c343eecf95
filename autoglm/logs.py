"""Logging for every `autoglm` command: JSON lines (shared.logs.JsonFormatter) on stderr."""

from __future__ import annotations

import logging
import sys

from shared.logs import JsonFormatter

#: Libraries whose info-level chatter would drown the project's own lines.
NOISY = ("amqtt", "transitions", "hassil", "uvicorn.access")


def setup_logging(level: str, *, stream: object = None) -> None:
    """JSON lines on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
