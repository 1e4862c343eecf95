"""The shared check of a SQLite file a component is about to own: damaged, foreign, or fine."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.reliability.storage_files_at_start import damage_pages
from edge.io.dbfile import problem


def test_an_empty_or_own_file_has_no_problem_and_others_tables_are_named(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    assert problem(conn, frozenset({"mine"})) is None
    conn.execute("CREATE TABLE mine (a)")
    assert problem(conn, frozenset({"mine"})) is None
    conn.execute("CREATE TABLE theirs (b)")
    assert problem(conn, frozenset({"mine"})) == "foreign tables ['theirs']"
    conn.close()


def test_damaged_pages_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE mine (a)")
    conn.executemany("INSERT INTO mine VALUES (?)", [("x" * 200,) for _ in range(300)])
    conn.commit()
    conn.close()
    damage_pages(path)
    conn = sqlite3.connect(path)
    found = problem(conn, frozenset({"mine"}))
    conn.close()
    assert found is not None and found.startswith("damaged")
