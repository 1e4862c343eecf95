"""Tests for shared/envelope.py: ids and trace ids, timezone-aware timestamps, a closed schema."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from shared.codec import decode, encode, validate
from shared.envelope import SCHEMA_VERSION, Envelope, new_id, utcnow
from shared.errors import PayloadError


def _envelope(**overrides: Any) -> dict[str, Any]:
    return {"source": "edge:gw1", "type": "utterance", "payload": {"text": "开灯"}} | overrides


def test_new_id_is_32_hex_and_unique() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_utcnow_is_aware_utc() -> None:
    now = utcnow()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5


def test_defaults() -> None:
    env = Envelope(source="cli", type="utterance")
    assert re.fullmatch(r"[0-9a-f]{32}", env.id)
    assert re.fullmatch(r"[0-9a-f]{32}", env.trace_id)
    assert env.id != env.trace_id
    assert env.schema_version == SCHEMA_VERSION == 1
    assert env.ts.utcoffset() == timedelta(0)
    assert env.payload == {}


def test_each_envelope_gets_fresh_ids() -> None:
    a, b = Envelope(source="cli", type="x"), Envelope(source="cli", type="x")
    assert a.id != b.id
    assert a.trace_id != b.trace_id


@pytest.mark.parametrize("ts", [datetime(2025, 1, 1, 12, 0), "2025-01-01T12:00:00"])
def test_naive_timestamp_is_rejected(ts: datetime | str) -> None:
    with pytest.raises(PayloadError, match="timezone") as info:
        validate(Envelope, _envelope(ts=ts))
    assert info.value.field == "ts"


@pytest.mark.parametrize(
    ("ts", "offset"),
    [
        ("2025-01-01T12:00:00Z", timedelta(0)),
        ("2025-01-01T20:00:00+08:00", timedelta(hours=8)),
        (datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=-5))), timedelta(hours=-5)),
    ],
)
def test_aware_timestamps_are_kept(ts: datetime | str, offset: timedelta) -> None:
    env = validate(Envelope, _envelope(ts=ts))
    assert env.ts.utcoffset() == offset


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"edge_id": "gw1"}, "edge_id"),
        ({"schema_version": 2}, "schema_version"),
        ({"source": ""}, "source"),
        ({"source": "s" * 129}, "source"),
        ({"type": ""}, "type"),
        ({"id": ""}, "id"),
        ({"trace_id": "t" * 65}, "trace_id"),
        ({"payload": ["not", "an", "object"]}, "payload"),
        ({"ts": "yesterday"}, "ts"),
    ],
)
def test_bad_envelopes_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as info:
        validate(Envelope, _envelope(**overrides))
    assert info.value.field == field
    assert info.value.model == "Envelope"


def test_extra_field_error_message() -> None:
    with pytest.raises(PayloadError, match=r"^Envelope\.edge_id: Extra inputs are not permitted$"):
        validate(Envelope, _envelope(edge_id="gw1"))


def test_source_and_type_are_required() -> None:
    with pytest.raises(PayloadError) as info:
        validate(Envelope, {"type": "x"})
    assert info.value.field == "source"
    with pytest.raises(PayloadError) as info:
        validate(Envelope, {"source": "cli"})
    assert info.value.field == "type"


def test_envelope_is_frozen() -> None:
    env = Envelope(source="cli", type="x")
    with pytest.raises(ValidationError):
        env.source = "other"  # type: ignore[misc]


def test_round_trip_keeps_every_field() -> None:
    env = Envelope(source="edge:gw1", type="decision", payload={"n": 1, "nested": {"ok": True}, "s": "客厅"})
    again = decode(Envelope, encode(env))
    assert again == env
    assert again.ts == env.ts
