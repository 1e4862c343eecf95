"""The device twin: desired and reported values per property, with monotonic versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.envelope import utcnow


class TwinValue(BaseModel):
    """One side (desired or reported) of one property."""

    value: Any = None  # a default, because encode() drops None fields and null is a legitimate value
    version: int = Field(ge=0)
    ts: datetime = Field(default_factory=utcnow)


class TwinProperty(BaseModel):
    """A property's desired and reported sides."""

    desired: TwinValue | None = None
    reported: TwinValue | None = None


class TwinDocument(BaseModel):
    """The whole twin of one device."""

    device_id: str
    properties: dict[str, TwinProperty] = Field(default_factory=dict)

    def reported_values(self) -> dict[str, Any]:
        """Plain `{property: reported value}`."""
        return {k: p.reported.value for k, p in self.properties.items() if p.reported is not None}

    def delta(self) -> dict[str, Any]:
        """Desired values the device has not reported yet."""
        out: dict[str, Any] = {}
        for key, prop in self.properties.items():
            desired, reported = prop.desired, prop.reported
            if desired is not None and (reported is None or reported.value != desired.value):
                out[key] = desired.value
        return out


class TwinDelta(BaseModel):
    """A change to one side of a device's twin, carrying the versions it applies."""

    device_id: str
    side: str = Field(pattern="^(desired|reported)$")
    values: dict[str, TwinValue]


def is_newer(current: TwinValue | None, incoming: TwinValue) -> bool:
    """True when `incoming` should replace `current`; lower or equal versions are stale."""
    return current is None or incoming.version > current.version
