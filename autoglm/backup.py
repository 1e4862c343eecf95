"""Online backup and checked restore of the SQLite stores (edge: edge.db, outbox.db, decisions.db,
cloud_requests.db; cloud: cloud.db).

Backup uses SQLite's online backup API on a read-only connection, so it is safe while the daemon writes (WAL); every
copy must pass `PRAGMA integrity_check`, and a `manifest.json` records each file's size and sha256. Restore checks the
manifest and each file's integrity again, then puts each database in place atomically (temp file + rename) and removes
the old database's `-wal` and `-shm` files, which belong to it. Restore is for a stopped daemon.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.io.intent_model import sha256  # the edge side's one file digest (the cloud keeps its own: no cross import)
from shared.errors import StorageError

MANIFEST = "manifest.json"
#: The databases each side keeps; a missing one (a feature switched off) is skipped, not an error.
EDGE_DATABASES = ("edge.db", "outbox.db", "decisions.db", "cloud_requests.db")


def _integrity(path: Path) -> str:
    """'ok', or what SQLite found wrong (a file that is not a database says so)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return str(exc)
    return "; ".join(str(r[0]) for r in rows)


def backup(databases: list[Path], out: Path, *, side: str) -> dict[str, Any]:
    """Copy each existing database of `databases` into `out` (a new or empty directory); returns the manifest."""
    if out.exists() and any(out.iterdir()):
        raise StorageError(f"backup directory {out} is not empty: give a new one (nothing was written)")
    found = [db for db in databases if db.exists()]
    if not found:
        raise StorageError("no database to back up: " + ", ".join(str(d) for d in databases))
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for db in found:
        target = out / db.name
        try:
            source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)
            finally:
                copy.close()
                source.close()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot back up {db}: {exc}") from None
        if (problem := _integrity(target)) != "ok":
            raise StorageError(f"the copy of {db} fails its integrity check ({problem}); the source may be damaged")
        files.append({"name": db.name, "source": str(db), "bytes": target.stat().st_size, "sha256": sha256(target)})
    manifest = {"side": side, "created": datetime.now(UTC).isoformat(timespec="seconds"), "files": files}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def check(backup_dir: Path, *, side: str) -> dict[str, Any]:
    """The backup's manifest once every file matches it and passes the integrity check; StorageError otherwise."""
    try:
        manifest = json.loads((backup_dir / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"{backup_dir} is not a backup ({MANIFEST}: {exc})") from None
    if manifest.get("side") != side:
        raise StorageError(f"{backup_dir} is a backup of the {manifest.get('side')!r} side, not the {side!r} side")
    for entry in files:
        name = str(entry.get("name", ""))
        path = backup_dir / name
        if Path(name).name != name or not path.is_file():
            raise StorageError(f"backup file {name!r} is missing from {backup_dir}")
        if path.stat().st_size != entry.get("bytes") or sha256(path) != entry.get("sha256"):
            raise StorageError(f"backup file {path} does not match its manifest (changed or truncated)")
        if (problem := _integrity(path)) != "ok":
            raise StorageError(f"backup file {path} fails its integrity check: {problem}")
    return dict(manifest)


def restore(backup_dir: Path, target_dir: Path, *, side: str) -> list[Path]:
    """Put a checked backup's databases into `target_dir` (the daemon stopped); returns the restored files."""
    manifest = check(backup_dir, side=side)
    target_dir.mkdir(parents=True, exist_ok=True)
    restored = []
    for entry in manifest["files"]:
        target = target_dir / entry["name"]
        temp = target.with_name(f".{target.name}.restoring")
        shutil.copyfile(backup_dir / entry["name"], temp)
        with temp.open("rb") as f:
            os.fsync(f.fileno())
        for stale in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
            stale.unlink(missing_ok=True)  # they belong to the database being replaced
        os.replace(temp, target)
        restored.append(target)
    return restored
