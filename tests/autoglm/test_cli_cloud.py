"""`autoglm cloud token ...` on a real database: the secret is printed once and works; list and revoke."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from autoglm.cli import app
from cloud.auth import Authenticator, Role
from cloud.sqlite_store import SqliteStore
from shared.errors import AuthError


async def _authenticate(db: Path, secret: str) -> object:
    store = SqliteStore(db)
    await store.open()
    try:
        return await Authenticator(store).authenticate(secret)
    finally:
        await store.close()


def test_token_create_list_revoke(tmp_path: Path) -> None:
    db = tmp_path / "cloud.db"
    runner = CliRunner()
    created = runner.invoke(app, ["cloud", "token", "create", "--role", "operator", "--site", "a", "--site", "b",
                                  "--ttl-days", "3", "--name", "ci", "--db", str(db)])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("agh_")
    principal = asyncio.run(_authenticate(db, secret))
    assert principal.role is Role.OPERATOR and principal.sites == frozenset({"a", "b"})  # type: ignore[attr-defined]
    token_id = secret.split("_")[1]
    listed = runner.invoke(app, ["cloud", "token", "list", "--db", str(db)])
    assert token_id in listed.stdout and "sites=a,b" in listed.stdout and secret.split("_", 2)[2] not in listed.stdout
    revoked = runner.invoke(app, ["cloud", "token", "revoke", secret, "--db", str(db)])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    try:
        asyncio.run(_authenticate(db, secret))
    except AuthError as exc:
        assert exc.code == "token_revoked"
    else:
        raise AssertionError("a revoked token still authenticates")


def test_bad_input_is_one_line_and_nonzero(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "cloud.db")
    for args, needle in ((["--role", "root"], "unknown role"), (["--role", "edge"], "--edge"),
                         (["--role", "viewer", "--ttl-days", "-1"], "ttl-days")):
        result = runner.invoke(app, ["cloud", "token", "create", *args, "--db", db])
        assert result.exit_code == 1 and needle in result.output, result.output
    missing = runner.invoke(app, ["cloud", "token", "revoke", "nope", "--db", db])
    assert missing.exit_code == 1 and "not found" in missing.output
    edge = runner.invoke(app, ["cloud", "token", "create", "--role", "edge", "--edge", "gw1", "--db", db])
    assert edge.exit_code == 0 and "edge gw1" in edge.output
