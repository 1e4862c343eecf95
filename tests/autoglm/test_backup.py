"""Online backup while a writer runs, checked restore, and the refusals (damaged, foreign, wrong side)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoglm.backup import EDGE_DATABASES, backup, check, restore
from autoglm.cli import app
from shared.errors import StorageError


def make_db(path: Path, rows: int = 0) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(f"row {i}",) for i in range(rows)])
    conn.commit()
    conn.close()


def count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0])
    finally:
        conn.close()


def test_a_backup_taken_while_a_writer_commits_is_consistent_and_restores(tmp_path: Path) -> None:
    data = tmp_path / "edge"
    data.mkdir()
    make_db(data / "edge.db", 100)
    make_db(data / "outbox.db", 10)
    stop = threading.Event()

    def writer() -> None:  # the daemon, writing on
        conn = sqlite3.connect(data / "edge.db", timeout=5)
        while not stop.is_set():
            conn.execute("INSERT INTO t (v) VALUES ('more')")
            conn.commit()
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        manifest = backup([data / name for name in EDGE_DATABASES], tmp_path / "b1", side="edge")
    finally:
        stop.set()
        thread.join()
    assert [f["name"] for f in manifest["files"]] == ["edge.db", "outbox.db"]  # the others do not exist here
    saved = count(tmp_path / "b1" / "edge.db")
    assert saved >= 100 and count(data / "edge.db") >= saved
    make_db(data / "outbox.db", 5)  # later changes, then a stopped daemon restored
    (data / "edge.db-wal").write_bytes(b"stale")
    restored = restore(tmp_path / "b1", data, side="edge")
    assert restored == [data / "edge.db", data / "outbox.db"]
    assert count(data / "edge.db") == saved and count(data / "outbox.db") == 10
    assert not (data / "edge.db-wal").exists()  # the old database's log went with it


def test_a_damaged_or_foreign_backup_is_refused_and_nothing_is_replaced(tmp_path: Path) -> None:
    data = tmp_path / "edge"
    data.mkdir()
    make_db(data / "edge.db", 3)
    backup([data / "edge.db"], tmp_path / "b", side="edge")
    with pytest.raises(StorageError, match="cloud' side"):
        check(tmp_path / "b", side="cloud")
    copy = tmp_path / "b" / "edge.db"
    raw = bytearray(copy.read_bytes())
    raw[200:260] = b"x" * 60
    copy.write_bytes(bytes(raw))
    make_db(data / "edge.db", 2)
    with pytest.raises(StorageError, match="does not match its manifest"):
        restore(tmp_path / "b", data, side="edge")
    assert count(data / "edge.db") == 5  # untouched
    with pytest.raises(StorageError, match="not a backup"):
        restore(tmp_path, data, side="edge")
    with pytest.raises(StorageError, match="not empty"):
        backup([data / "edge.db"], tmp_path / "b", side="edge")


def test_a_damaged_source_fails_the_backup_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "edge.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StorageError, match=r"edge\.db"):
        backup([tmp_path / "edge.db"], tmp_path / "b", side="edge")


def test_the_cli_backs_up_and_restores_both_sides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "edge"
    data.mkdir()
    make_db(data / "edge.db", 7)
    make_db(tmp_path / "cloud.db", 4)
    monkeypatch.setenv("OPEN_AUTOGLM_EDGE__DATA_DIR", str(data))
    runner = CliRunner()
    result = runner.invoke(app, ["edge", "backup", "--out", str(tmp_path / "eb")])
    assert result.exit_code == 0 and "edge.db" in result.output, result.output
    result = runner.invoke(app, ["cloud", "backup", "--db", str(tmp_path / "cloud.db"), "--out", str(tmp_path / "cb")])
    assert result.exit_code == 0 and "cloud.db" in result.output, result.output
    make_db(data / "edge.db", 1)
    make_db(tmp_path / "cloud.db", 1)
    result = runner.invoke(app, ["edge", "restore", str(tmp_path / "eb")])
    assert result.exit_code == 0 and count(data / "edge.db") == 7, result.output
    result = runner.invoke(app, ["cloud", "restore", str(tmp_path / "cb"), "--db", str(tmp_path / "cloud.db")])
    assert result.exit_code == 0 and count(tmp_path / "cloud.db") == 4, result.output
    result = runner.invoke(app, ["cloud", "restore", str(tmp_path / "eb"), "--db", str(tmp_path / "cloud.db")])
    assert result.exit_code == 1 and "edge" in result.output
