"""The uplink outbox: durable, ordered, acknowledged one by one, bounded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.io.outbox import APPLICATION_ID, Outbox
from shared.errors import StorageError


def test_messages_come_out_in_order_and_leave_only_when_acknowledged(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    for i in range(5):
        box.put(f"t/{i}", f"m{i}".encode())
    first = box.peek(3)
    assert [p.payload for p in first] == [b"m0", b"m1", b"m2"]
    assert box.peek(3) == first  # peeking removes nothing
    box.ack(first[0].seq)
    box.ack(first[1].seq)
    assert [p.topic for p in box.peek(10)] == ["t/2", "t/3", "t/4"] and len(box) == 3


def test_unsent_messages_survive_a_restart(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    seq = box.put("t/a", b"a")
    box.put("t/b", b"b")
    box.ack(seq)
    box.close()
    again = Outbox(tmp_path / "outbox.db")
    assert len(again) == 1 and [p.payload for p in again.peek()] == [b"b"]
    assert again.put("t/c", b"c") > seq  # sequence numbers keep growing: order holds across restarts


def test_a_full_outbox_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", max_messages=3)
    for i in range(5):
        box.put("t", str(i).encode())
    assert [p.payload for p in box.peek()] == [b"2", b"3", b"4"]
    assert box.dropped == 2 and len(box) == 3


def test_drops_are_counted_per_topic_survive_a_restart_and_are_cleared_once_reported(tmp_path: Path) -> None:
    seen: list[int] = []
    box = Outbox(tmp_path / "outbox.db", max_messages=2, on_drop=seen.append)
    assert box.dropped_report() is None
    for i, topic in enumerate(["a", "b", "a", "a", "b"]):
        box.put(topic, str(i).encode())
    assert seen == [1, 1, 1] and [p.payload for p in box.peek()] == [b"3", b"4"]
    box.close()
    again = Outbox(tmp_path / "outbox.db", max_messages=2)
    report = again.dropped_report()
    assert report is not None and report.by_topic == {"a": 2, "b": 1} and report.count == 3
    again.put("b", b"5")  # drops "3" (topic a) after the report was taken
    again.clear_dropped(report)
    later = again.dropped_report()
    assert later is not None and later.by_topic == {"a": 1} and later.last_seq > report.last_seq
    again.clear_dropped(later)
    assert again.dropped_report() is None and len(again) == 2


def test_a_message_dropped_while_in_flight_and_then_acknowledged_is_not_reported_as_dropped(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", max_messages=2)
    box.put("a", b"0")
    box.put("b", b"1")
    sending = box.peek(1)[0]  # the drain holds "0" and sends it ...
    box.put("a", b"2")  # ... while a new message pushes it out: counted as dropped
    report = box.dropped_report()
    assert report is not None and report.by_topic == {"a": 1}
    box.ack(sending.seq, sending.topic)  # the broker had it after all
    assert box.dropped_report() is None and len(box) == 2
    box.put("b", b"3")  # a real drop ("1", topic b) is still counted
    box.ack(sending.seq, sending.topic)  # and a second acknowledgement of a gone message takes nothing off it
    later = box.dropped_report()
    assert later is not None and later.by_topic == {"b": 1}


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="move the file away"):
        Outbox(path)


def sqlite_file(path: Path, *statements: str) -> Path:
    """A database another program wrote: `statements` run and committed."""
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return path


def test_another_programs_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = sqlite_file(tmp_path / "registry.db", "CREATE TABLE devices (device_id TEXT PRIMARY KEY)",
                       "INSERT INTO devices VALUES ('light.kitchen')")
    before = path.read_bytes()
    with pytest.raises(StorageError, match="is not an outbox"):
        Outbox(path)
    assert path.read_bytes() == before  # refused before any write


def test_a_file_stamped_by_another_application_is_refused(tmp_path: Path) -> None:
    path = sqlite_file(tmp_path / "outbox.db", "PRAGMA application_id = 1234",
                       "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB)")
    with pytest.raises(StorageError, match="application_id 0x4d2"):
        Outbox(path)


def test_an_outbox_is_stamped_and_a_legacy_unstamped_one_is_adopted(tmp_path: Path) -> None:
    path = sqlite_file(tmp_path / "outbox.db", "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                       "topic TEXT NOT NULL, payload BLOB NOT NULL)",
                       "INSERT INTO outbox (topic, payload) VALUES ('t', x'01')")
    box = Outbox(path)
    assert len(box) == 1
    box.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    check.close()


def test_a_group_commit_keeps_order_applies_the_bound_and_is_one_transaction(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", max_messages=5)
    box.put("t", b"0")
    commits: list[str] = []
    box._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    last = box.put_many([("t", str(i).encode()) for i in range(1, 8)])
    assert commits == ["COMMIT"]  # seven messages, one commit (one fsync)
    assert [p.payload for p in box.peek()] == [b"3", b"4", b"5", b"6", b"7"] and last == box.peek()[-1].seq
    assert box.dropped == 3 and len(box) == 5 and box.put_many([]) == 0
    box.close()
    assert [p.payload for p in Outbox(tmp_path / "outbox.db").peek()] == [b"3", b"4", b"5", b"6", b"7"]


def test_negative_control_without_drop_reports_the_drops_are_counted_but_never_reported(tmp_path: Path) -> None:
    seen: list[int] = []
    box = Outbox(tmp_path / "outbox.db", max_messages=2, on_drop=seen.append, report_drops=False)
    for i in range(5):
        box.put("a", str(i).encode())
    assert seen == [1, 1, 1] and len(box) == 2  # dropped as with the safeguard
    assert box.dropped_report() is None  # but nothing would ever tell the cloud
