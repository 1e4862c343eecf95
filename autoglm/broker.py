"""An embedded MQTT broker (amqtt) for the demo and development; production uses Mosquitto or EMQX."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)


def broker_config(host: str, port: int) -> dict[str, Any]:
    """amqtt settings: one TCP listener, anonymous clients (localhost development only)."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 1000}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@asynccontextmanager
async def embedded_broker(host: str = "127.0.0.1", port: int = 1883) -> AsyncIterator[None]:
    """Run an amqtt broker for the lifetime of the context (must be entered inside a running loop)."""
    from amqtt.broker import Broker  # amqtt is heavy; import only when a broker is wanted

    if not port_is_free(host, port):
        raise OSError(f"port {port} on {host} is in use: stop the other broker or pass --port")
    broker = Broker(broker_config(host, port))
    await broker.start()
    log.info("embedded broker listening", extra={"host": host, "port": port})
    try:
        yield
    finally:
        await broker.shutdown()


async def serve(host: str, port: int) -> None:
    """Run the embedded broker until cancelled."""
    async with embedded_broker(host, port):
        await asyncio.Event().wait()
