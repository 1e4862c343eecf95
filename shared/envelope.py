"""The message envelope every project message (not device payloads) travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION: Final = 1


def new_id() -> str:
    """A fresh message or trace id (32 hex chars)."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """Timezone-aware now, in UTC."""
    return datetime.now(UTC)


class Envelope(BaseModel):
    """id (for de-duplication), trace_id (follows a command end to end), ts, schema_version, source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    trace_id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    ts: datetime = Field(default_factory=utcnow)
    schema_version: Literal[1] = SCHEMA_VERSION
    source: str = Field(min_length=1, max_length=128, description="who sent it, e.g. 'edge:gw1', 'cli'")
    type: str = Field(min_length=1, max_length=64, description="what the payload is, e.g. 'utterance'")
    payload: dict[str, Any] = Field(default_factory=dict)

    @field_validator("ts")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamp must carry a timezone")
        return value
