"""What is wrong, if anything, with a SQLite file a component is about to call its own."""

from __future__ import annotations

import sqlite3


def problem(conn: sqlite3.Connection, own_tables: frozenset[str]) -> str | None:
    """'damaged (...)' when `quick_check` fails, 'foreign tables [...]' when it holds others' tables, else None.

    Read-only: run it before anything (WAL mode included) writes to the file.
    """
    try:
        verdict = str(conn.execute("PRAGMA quick_check").fetchone()[0])
        tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:  # damage bad enough that the check itself cannot run
        return f"damaged ({exc})"
    if verdict != "ok":
        return f"damaged ({verdict[:200]})"
    if not tables <= own_tables:
        return f"foreign tables {sorted(tables - own_tables)}"
    return None
