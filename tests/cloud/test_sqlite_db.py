"""SqliteDb: a transaction is all or nothing, while plain statements commit at once (the negative control)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.sqlite_db import SqliteDb, in_clause, where_clause
from shared.errors import StorageError
from tests.edge.io.test_store import fill_to_limit


async def test_tx_rolls_back_everything_on_error(tmp_path: Path) -> None:
    db = SqliteDb(tmp_path / "c.db")
    await db.open()

    def failing_tx() -> None:
        with db.tx() as conn:
            conn.execute("INSERT INTO edges (edge_id, site, registered_ts) VALUES ('e1', 's', 'now')")
            raise RuntimeError("boom")

    def autocommit_then_fail() -> None:
        db.db.execute("INSERT INTO edges (edge_id, site, registered_ts) VALUES ('e2', 's', 'now')")
        raise RuntimeError("boom")

    for work in (failing_tx, autocommit_then_fail):
        with pytest.raises(RuntimeError):
            await db.call(work)
    ids = await db.call(lambda: [r["edge_id"] for r in db.rows("SELECT edge_id FROM edges", [])])
    assert ids == ["e2"], "the transaction must leave nothing; the autocommit write stays"
    with pytest.raises(StorageError, match="cloud database error"):
        await db.call(lambda: db.db.execute("SELECT * FROM no_such_table"))
    await db.close()
    assert not await SqliteDb(tmp_path / "other.db").ping()


def test_clause_builders() -> None:
    assert in_clause("site", frozenset({"b", "a"})) == ("site IN (?, ?)", ["a", "b"])
    assert where_clause([]) == ("", [])
    assert where_clause([("a = ?", [1]), ("b = ?", [2])]) == ("WHERE a = ? AND b = ?", [1, 2])


async def test_a_full_disk_inside_a_transaction_reports_the_full_disk(tmp_path: Path) -> None:
    db = SqliteDb(tmp_path / "c.db")
    await db.open()
    await db.call(lambda: fill_to_limit(db.db.conn))

    def big_write() -> None:
        with db.tx() as conn:
            conn.execute("INSERT INTO edges (edge_id, site, registered_ts) VALUES (?, 's', 'now')", ("e" * 9000,))

    # SQLite has rolled the transaction back itself: a second ROLLBACK would fail and hide the cause
    with pytest.raises(StorageError, match="full"):
        await db.call(big_write)
    assert await db.call(lambda: db.rows("SELECT edge_id FROM edges", [])) == []
    await db.close()
