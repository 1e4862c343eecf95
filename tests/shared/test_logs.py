"""Tests for shared/logs.py: each record is one JSON object on one line, with context fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.logs import JsonFormatter


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.shared.logs")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream
    logger.handlers = []


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_one_json_object_per_record(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("device confirmed", extra={"trace_id": "abc123", "edge_id": "gw1", "device_id": "light.kitchen"})
    logger.warning("cloud unreachable")
    first, second = _lines(stream)
    assert first == {
        "ts": first["ts"],
        "level": "info",
        "logger": "tests.shared.logs",
        "event": "device confirmed",
        "trace_id": "abc123",
        "edge_id": "gw1",
        "device_id": "light.kitchen",
    }
    assert second == {"ts": second["ts"], "level": "warning", "logger": "tests.shared.logs",
                      "event": "cloud unreachable"}


def test_ts_is_iso_utc_with_milliseconds(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    before = datetime.now().astimezone()
    logger.debug("tick")
    (line,) = _lines(stream)
    ts = datetime.fromisoformat(line["ts"])
    assert ts.utcoffset() == timedelta(0)
    assert len(line["ts"].split(".")[1]) == len("123+00:00")
    assert abs((ts - before).total_seconds()) < 5


def test_message_arguments_are_interpolated(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.error("retry %d of %s", 3, "outbox")
    assert _lines(stream)[0]["event"] == "retry 3 of outbox"
    assert _lines(stream)[0]["level"] == "error"


def test_multiline_and_non_ascii_stay_on_one_line(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("line one\nline two", extra={"name_zh": "客厅灯"})
    assert stream.getvalue().count("\n") == 1
    assert "客厅灯" in stream.getvalue()
    (line,) = _lines(stream)
    assert line["event"] == "line one\nline two"
    assert line["name_zh"] == "客厅灯"


def test_non_json_values_are_stringified(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    when = datetime(2025, 1, 2, 3, 4, 5)
    logger.info("with objects", extra={"when": when, "ids": (1, 2), "obj": object})
    (line,) = _lines(stream)
    assert line["when"] == str(when)
    assert line["ids"] == [1, 2]
    assert line["obj"] == str(object)


def test_exception_is_included(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    try:
        raise RuntimeError("broker went away")
    except RuntimeError:
        logger.exception("publish failed", extra={"trace_id": "t9"})
    (line,) = _lines(stream)
    assert line["event"] == "publish failed"
    assert line["level"] == "error"
    assert line["trace_id"] == "t9"
    assert line["exc"].startswith("Traceback (most recent call last):")
    assert line["exc"].rstrip().endswith("RuntimeError: broker went away")


def test_private_and_record_attributes_are_not_fields(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("x", extra={"_secret": "hidden", "edge_id": "gw1"})
    (line,) = _lines(stream)
    assert set(line) == {"ts", "level", "logger", "event", "edge_id"}


def test_extra_fields_cannot_overwrite_the_core_fields(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("real event", extra={"ts": "forged", "level": "debug", "event": "forged", "logger": "forged"})
    (line,) = _lines(stream)
    assert line["event"] == "real event"
    assert line["level"] == "info"
    assert line["logger"] == "tests.shared.logs"
    assert line["ts"] != "forged"


def test_log_lines_escape_what_could_drive_a_terminal() -> None:
    import json
    import logging

    from shared.logs import JsonFormatter

    said = "lamp \x1b[31mred \x9b2J \u202eexe.txt 灯"
    line = JsonFormatter().format(logging.LogRecord("edge", logging.INFO, "", 0, "utterance %s", (said,), None))
    assert not any(c in line for c in "\x1b\x9b\u202e") and "灯" in line
    assert json.loads(line)["event"] == f"utterance {said}"
