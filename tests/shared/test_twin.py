"""Tests for shared/twin.py: monotonic versions drop stale updates; delta is desired-but-not-reported."""

from __future__ import annotations

from typing import Any

import pytest

from shared.codec import decode, encode, validate
from shared.errors import PayloadError
from shared.twin import TwinDelta, TwinDocument, TwinProperty, TwinValue, is_newer


def _v(value: Any, version: int) -> TwinValue:
    return TwinValue(value=value, version=version)


# --- versions --------------------------------------------------------------------------------


def test_first_value_is_always_newer() -> None:
    assert is_newer(None, _v("ON", 0)) is True


@pytest.mark.parametrize(("current", "incoming", "newer"), [(1, 2, True), (5, 100, True), (3, 3, False), (4, 3, False)])
def test_is_newer_drops_equal_and_lower_versions(current: int, incoming: int, newer: bool) -> None:
    assert is_newer(_v("OFF", current), _v("ON", incoming)) is newer


def test_is_newer_ignores_timestamps_and_values() -> None:
    old = TwinValue(value="ON", version=7)
    later_ts_same_version = TwinValue(value="OFF", version=7)
    assert later_ts_same_version.ts >= old.ts
    assert is_newer(old, later_ts_same_version) is False


def test_negative_version_is_rejected() -> None:
    with pytest.raises(PayloadError) as info:
        validate(TwinValue, {"value": 1, "version": -1})
    assert info.value.field == "version"


def test_applying_updates_out_of_order_keeps_the_highest_version() -> None:
    current: TwinValue | None = None
    for incoming in [_v(10, 1), _v(30, 3), _v(20, 2), _v(31, 3), _v(40, 4), _v(5, 0)]:
        if is_newer(current, incoming):
            current = incoming
    assert current is not None
    assert (current.value, current.version) == (40, 4)


# --- document --------------------------------------------------------------------------------


def _doc() -> TwinDocument:
    return TwinDocument(
        device_id="light.kitchen",
        properties={
            "state": TwinProperty(desired=_v("ON", 2), reported=_v("OFF", 5)),
            "brightness": TwinProperty(desired=_v(128, 3), reported=_v(128, 4)),
            "color_temp": TwinProperty(desired=_v(370, 1)),
            "linkquality": TwinProperty(reported=_v(87, 9)),
            "color": TwinProperty(desired=_v({"x": 0.3, "y": 0.4}, 1), reported=_v({"x": 0.3, "y": 0.4}, 2)),
        },
    )


def test_delta_lists_desired_values_not_yet_reported() -> None:
    assert _doc().delta() == {"state": "ON", "color_temp": 370}


def test_delta_is_empty_when_in_sync_or_no_desired() -> None:
    doc = TwinDocument(device_id="d", properties={"a": TwinProperty(desired=_v(1, 1), reported=_v(1, 1))})
    assert doc.delta() == {}
    assert TwinDocument(device_id="d").delta() == {}


def test_reported_values() -> None:
    assert _doc().reported_values() == {
        "state": "OFF", "brightness": 128, "linkquality": 87, "color": {"x": 0.3, "y": 0.4},
    }


def test_document_round_trip() -> None:
    doc = _doc()
    assert decode(TwinDocument, encode(doc)) == doc


def test_null_values_survive_the_wire() -> None:
    # A property can be legitimately null (a sensor with no reading); encode drops None fields,
    # so decoding must not then fail with "value: Field required".
    value = TwinValue(value=None, version=3)
    again = decode(TwinValue, encode(value))
    assert again.value is None
    assert again.version == 3
    delta = TwinDelta(device_id="sensor.t", side="reported", values={"temperature": value})
    assert decode(TwinDelta, encode(delta)).values["temperature"].version == 3


# --- delta message ---------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["desired", "reported"])
def test_twin_delta_sides(side: str) -> None:
    delta = validate(TwinDelta, {"device_id": "d", "side": side, "values": {"state": {"value": "ON", "version": 2}}})
    assert delta.side == side
    assert delta.values["state"].version == 2


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"device_id": "d", "side": "both", "values": {}}, "side"),
        ({"device_id": "d", "side": "reported\n", "values": {}}, "side"),
        ({"device_id": "d", "side": "desired", "values": {"state": {"value": "ON"}}}, "values.state.version"),
        (
            {"device_id": "d", "side": "desired", "values": {"state": {"value": 1, "version": "x"}}},
            "values.state.version",
        ),
        ({"side": "desired", "values": {}}, "device_id"),
    ],
)
def test_bad_twin_delta_names_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as info:
        validate(TwinDelta, data)
    assert info.value.field == field
