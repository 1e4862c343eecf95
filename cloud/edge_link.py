"""Ports for reaching edges from the API: natural-language commands and desired-state pushes.

The MQTT twin-sync side implements them; the API works without them (commands answer 503, desired
state waits in the store for the next full re-sync).
"""

from __future__ import annotations

from typing import Any, Protocol

from cloud.fleet import Device
from shared.envelope import Envelope
from shared.twin import TwinValue


class EdgeCommandSender(Protocol):
    """Delivers a natural-language command to an edge's pipeline."""

    async def send_command(self, edge_id: str, text: str, *, language: str | None, trace_id: str,
                           command_id: str) -> dict[str, Any] | None:
        """Publish the command; returns the edge's decision when it waits for one, else None (accepted).

        Raises TransportError when the edge or broker cannot be reached, DeviceTimeoutError on no answer.
        """
        ...


class ModelOrderPublisher(Protocol):
    """Hands an edge its model roll-out order (retained, so an offline edge gets the latest one)."""

    async def publish_order(self, edge_id: str, envelope: Envelope) -> None:
        """Publish the order; raises TransportError when the broker does not take it."""
        ...


class DesiredPublisher(Protocol):
    """Pushes desired-state deltas to the edge that owns a device."""

    async def publish_desired(self, device: Device, values: dict[str, TwinValue], *, trace_id: str) -> None:
        """Send a delta carrying the new versions; raises TransportError when it cannot be queued."""
        ...
