"""Tests for autoglm/logs.py: one JSON handler on the root logger, chatty libraries held at warning."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from autoglm.logs import NOISY, setup_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in NOISY}
    yield
    root.handlers[:], root.level = handlers, level
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.mark.usefixtures("restored_logging")
def test_json_lines_on_the_given_stream() -> None:
    stream = io.StringIO()
    setup_logging("info", stream=stream)
    setup_logging("info", stream=stream)  # a second call replaces the handler instead of adding one
    logging.getLogger("tests.autoglm.logs").info("hello", extra={"edge_id": "gw1"})
    logging.getLogger("tests.autoglm.logs").debug("below the level")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) | {"ts": None} == {"ts": None, "level": "info", "logger": "tests.autoglm.logs",
                                                   "event": "hello", "edge_id": "gw1"}


@pytest.mark.usefixtures("restored_logging")
def test_chatty_libraries_stay_at_warning_under_debug() -> None:
    setup_logging("debug", stream=io.StringIO())
    assert logging.getLogger().level == logging.DEBUG
    assert all(logging.getLogger(name).level == logging.WARNING for name in NOISY)
