"""Text shown on a terminal cannot drive it: ANSI sequences, control characters and bidi overrides are escaped."""

from __future__ import annotations

import json

import pytest
import typer

from autoglm.terminal import echo, shown
from autoglm.trace import Event
from shared.envelope import utcnow

HOSTILE = ("Kitchen \x1b[2J\x1b]0;pwned\x07 \x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\ \x9b31m"
           " \u202eexe.txt\u202c \x00\x08\x7f\r\nfake line")


def test_every_control_and_bidi_character_is_written_visibly() -> None:
    out = shown(HOSTILE)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u202e\u202c" for c in out)
    assert "\\u001b[2J" in out and "\\u009b31m" in out and "\\u202e" in out and "\\u000d\\u000afake line" in out


def test_chinese_and_plain_text_are_left_alone() -> None:
    assert shown("把客厅的灯打开 -> 好的，已打开客厅灯。 50% °C") == "把客厅的灯打开 -> 好的，已打开客厅灯。 50% °C"


def test_json_output_stays_valid_json_with_the_same_text() -> None:
    document = json.dumps({"reply": HOSTILE}, ensure_ascii=False, indent=2)
    assert json.loads(shown(document, keep="\n"))["reply"] == HOSTILE


def test_echo_and_a_trace_line_escape_what_the_planner_wrote(capsys: pytest.CaptureFixture[str]) -> None:
    echo(f"[done] {HOSTILE}")
    event = Event(utcnow(), "edge", "decision done", {"reply": HOSTILE, "text": "\x1b[8mhidden"})
    echo(event.line())
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\x9b" not in printed and "\u202e" not in printed
    assert printed.count("\n") == 2  # one line each: a reply cannot forge another line


def test_fail_messages_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    from autoglm.cli import fail

    with pytest.raises(typer.Exit):
        fail(f"the cloud refused: {HOSTILE}")
    assert "\x1b" not in capsys.readouterr().err
