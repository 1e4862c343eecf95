"""Tests for shared/codec.py: every malformed payload becomes a PayloadError that says what is wrong."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import BaseModel, Field

from shared.codec import MAX_DEPTH, MAX_PAYLOAD_BYTES, decode, encode, finite, parse_json, validate
from shared.errors import ContractError, PayloadError, PayloadTooLargeError
from shared.payloads import LightCommand, LightState


def _nested_lists(levels: int, leaf: str = "1") -> str:
    return "[" * levels + leaf + "]" * levels


def _nested_dicts(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


# --- parse_json: accepted input -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"state": "ON", "brightness": 128}', {"state": "ON", "brightness": 128}),
        ('{"state": "OFF"}', {"state": "OFF"}),
        ("[1, 2.5, null, true]", [1, 2.5, None, True]),
        ('"ON"', "ON"),
        ("42", 42),
        ('{"name": "客厅灯"}'.encode(), {"name": "客厅灯"}),
        (b'{"t": -1.5e3}', {"t": -1500.0}),
    ],
)
def test_parse_json_accepts_valid_payloads(raw: bytes | str, expected: object) -> None:
    assert parse_json(raw) == expected


# --- parse_json: malformed input -------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"ON", b"{", b'{"state": "ON",}', b"{'state': 'ON'}", "[1, 2", b"\xef\xbb\xbf{}"])
def test_parse_json_rejects_text_that_is_not_json(raw: bytes | str) -> None:
    with pytest.raises(PayloadError, match="payload is not JSON") as info:
        parse_json(raw)
    assert info.value.field is None
    assert info.value.code == "bad_payload"


def test_parse_json_reports_position_of_syntax_error() -> None:
    with pytest.raises(PayloadError) as info:
        parse_json(b'{\n  "state": ON\n}')
    assert "line 2 column 12" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "byte"), [(b'{"a": "\xff"}', 7), (b"\xc3", 0), (b'"\xed\xa0\x80"', 1), (b"\x80{}", 0)]
)
def test_parse_json_rejects_invalid_utf8_and_names_the_byte(raw: bytes, byte: int) -> None:
    with pytest.raises(PayloadError, match=rf"not valid UTF-8 \(byte {byte}\)"):
        parse_json(raw)


def test_parse_json_rejects_str_with_lone_surrogate() -> None:
    with pytest.raises(PayloadError, match="not valid Unicode"):
        parse_json('{"a": "\ud800"}')


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_parse_json_rejects_nan_and_infinity(constant: str) -> None:
    with pytest.raises(PayloadError, match=f"{constant} is not allowed"):
        parse_json(f'{{"temperature": {constant}}}'.encode())


@pytest.mark.parametrize("number", ["1e400", "-1e400", "2e308"])
def test_parse_json_rejects_numbers_that_overflow_to_infinity(number: str) -> None:
    # json turns 1e400 into float('inf'): the NaN/Infinity check must not be bypassed this way.
    with pytest.raises(PayloadError, match=number):
        parse_json(f'{{"temperature": {number}}}')


def test_parse_json_rejects_integers_too_long_to_convert() -> None:
    with pytest.raises(PayloadError, match="not JSON"):
        parse_json("1" * 5000)


def test_parse_json_accepts_large_but_finite_numbers() -> None:
    assert parse_json("1e308") == 1e308
    assert parse_json("12345678901234567890") == 12345678901234567890


# --- nesting depth ---------------------------------------------------------------------------


@pytest.mark.parametrize("build", [_nested_lists, _nested_dicts])
def test_parse_json_accepts_exactly_max_depth(build: object) -> None:
    assert callable(build)
    value = parse_json(build(MAX_DEPTH))
    levels = 0
    while isinstance(value, list | dict):
        value = value[0] if isinstance(value, list) else value["a"]
        levels += 1
    assert levels == MAX_DEPTH
    assert value == 1


@pytest.mark.parametrize("build", [_nested_lists, _nested_dicts])
def test_parse_json_rejects_one_level_deeper_than_max_depth(build: object) -> None:
    assert callable(build)
    with pytest.raises(PayloadError, match=f"nests deeper than {MAX_DEPTH} levels"):
        parse_json(build(MAX_DEPTH + 1))


def test_parse_json_depth_counts_containers_not_leaves() -> None:
    # Empty innermost container and a scalar leaf give the same depth.
    assert parse_json(_nested_lists(MAX_DEPTH, leaf="")) == json.loads(_nested_lists(MAX_DEPTH, leaf=""))
    assert parse_json(_nested_lists(MAX_DEPTH, leaf="1")) == json.loads(_nested_lists(MAX_DEPTH, leaf="1"))
    with pytest.raises(PayloadError, match="nests deeper"):
        parse_json(_nested_lists(MAX_DEPTH + 1, leaf=""))


def test_parse_json_depth_checks_every_branch() -> None:
    deep = json.loads(_nested_dicts(MAX_DEPTH))
    payload = json.dumps({"shallow": 1, "list": [1, 2, {"deep": deep}]})
    with pytest.raises(PayloadError, match="nests deeper"):
        parse_json(payload)


def test_parse_json_turns_recursion_error_into_payload_error() -> None:
    # Far deeper than the interpreter's recursion limit; must not escape as RecursionError.
    levels = 100_000
    with pytest.raises(PayloadError, match="nests deeper"):
        parse_json(_nested_lists(levels))


# --- size limit ------------------------------------------------------------------------------


def _string_payload(total_bytes: int) -> bytes:
    return b'"' + b"a" * (total_bytes - 2) + b'"'


def test_parse_json_accepts_payload_at_the_size_limit() -> None:
    raw = _string_payload(MAX_PAYLOAD_BYTES)
    assert len(raw) == MAX_PAYLOAD_BYTES
    assert parse_json(raw) == "a" * (MAX_PAYLOAD_BYTES - 2)


def test_parse_json_rejects_oversized_payload() -> None:
    raw = _string_payload(MAX_PAYLOAD_BYTES + 1)
    with pytest.raises(PayloadTooLargeError) as info:
        parse_json(raw)
    assert isinstance(info.value, PayloadError)
    assert info.value.code == "payload_too_large"
    assert str(info.value) == f"payload is {MAX_PAYLOAD_BYTES + 1} bytes, the limit is {MAX_PAYLOAD_BYTES}"


def test_size_is_checked_before_parsing() -> None:
    # Garbage that is also too large reports the size, proving no parse was attempted.
    with pytest.raises(PayloadTooLargeError):
        parse_json(b"\xff" * (MAX_PAYLOAD_BYTES + 1))


def test_size_of_str_payload_is_measured_in_utf8_bytes() -> None:
    raw = '"' + "灯" * 10 + '"'  # 10 characters, 32 bytes
    assert parse_json(raw, max_bytes=32) == "灯" * 10
    with pytest.raises(PayloadTooLargeError, match="payload is 32 bytes, the limit is 31"):
        parse_json(raw, max_bytes=31)


def test_custom_max_bytes_applies_to_decode() -> None:
    with pytest.raises(PayloadTooLargeError):
        decode(LightState, b'{"state": "ON"}', max_bytes=10)


# --- validate / decode -----------------------------------------------------------------------


def test_decode_returns_the_model() -> None:
    state = decode(LightState, b'{"state": "ON", "brightness": 200, "color": {"x": 0.3, "y": 0.4}}')
    assert state.state == "ON"
    assert state.brightness == 200
    assert state.color is not None and state.color.x == 0.3


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"state": "ON", "brightness": "bright"}, "brightness"),
        ({"state": "ON", "brightness": [128]}, "brightness"),
        ({"state": "ON", "brightness": 70000}, "brightness"),
        ({"state": 1}, "state"),
        ({"brightness": 10}, "state"),
        ({"state": "ON", "color": {"r": 256, "g": 0, "b": 0}}, "color.r"),
        ({"state": "ON", "color": "red"}, "color"),
    ],
)
def test_validate_names_the_offending_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(PayloadError) as info:
        validate(LightState, data)
    assert info.value.field == field
    assert info.value.model == "LightState"
    assert str(info.value).startswith(f"LightState.{field}: ")


def test_validate_non_object_is_a_root_error() -> None:
    with pytest.raises(PayloadError) as info:
        validate(LightState, ["ON"])
    assert info.value.field == "<root>"
    assert isinstance(info.value, ContractError)


def test_validate_names_list_index_in_field_path() -> None:
    class Batch(BaseModel):
        commands: list[LightCommand]

    with pytest.raises(PayloadError) as info:
        validate(Batch, {"commands": [{"state": "ON"}, {"brightness": -1}]})
    assert info.value.field == "commands.1.brightness"


def test_validate_field_path_omits_union_member_tags() -> None:
    class Tagged(BaseModel):
        ids: list[str] | str
        items: list[int | bool] = []

    with pytest.raises(PayloadError) as info:
        validate(Tagged, {"ids": 5})
    assert info.value.field == "ids"
    with pytest.raises(PayloadError) as info:
        validate(Tagged, {"ids": "a", "items": [1, [2]]})
    assert info.value.field == "items.1"


def test_decode_wraps_parse_and_validation_errors() -> None:
    with pytest.raises(PayloadError, match="not JSON"):
        decode(LightState, b"ON")
    with pytest.raises(PayloadError) as info:
        decode(LightState, b'{"state": "DIM"}')
    assert info.value.field == "state"


# --- encode ----------------------------------------------------------------------------------


def test_encode_model_is_compact_and_drops_none() -> None:
    assert encode(LightCommand(state="ON", brightness=10)) == b'{"state":"ON","brightness":10}'


def test_encode_dict_is_compact_utf8() -> None:
    raw = encode({"name": "客厅", "on": True, "v": None})
    assert raw == '{"name":"客厅","on":true,"v":null}'.encode()


def test_encode_dict_refuses_nan() -> None:
    with pytest.raises(ValueError):
        encode({"t": math.nan})


def test_encode_uses_field_aliases() -> None:
    class Aliased(BaseModel):
        schema_: str = Field(alias="schema")

    assert encode(Aliased(schema="json")) == b'{"schema":"json"}'
    assert decode(Aliased, encode(Aliased(schema="json"))).schema_ == "json"


def test_encode_decode_round_trip() -> None:
    cmd = LightCommand(state="OFF", brightness=0, transition=1.5)
    assert decode(LightCommand, encode(cmd)) == cmd


# --- finite ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_finite_rejects_non_finite(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        finite(value)


def test_finite_returns_finite_values_unchanged() -> None:
    assert finite(-0.5) == -0.5
    assert finite(1e308) == 1e308
