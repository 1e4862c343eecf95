"""Tokens, roles and visibility: hashing at rest, refusal of bad/expired/revoked tokens, the permission table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from cloud.auth import (
    ROLE_PERMISSIONS,
    Authenticator,
    InvalidTokenError,
    Permission,
    Principal,
    Role,
    TokenExpiredError,
    TokenRevokedError,
    hash_secret,
    issue_token,
    parse_token,
)
from cloud.fleet import Device
from cloud.sqlite_store import SqliteStore
from cloud.store import EdgeRecord
from shared.envelope import utcnow
from shared.errors import AuthError, ConfigError, PermissionDeniedError


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "cloud.db")
    await s.open()
    yield s
    await s.close()


async def test_issued_token_authenticates_and_only_its_hash_is_stored(store: SqliteStore, tmp_path: Path) -> None:
    issued = issue_token("operator", sites=frozenset({"s1"}), ttl=timedelta(days=1))
    await store.add_token(issued.record)
    principal = await Authenticator(store).authenticate(issued.secret)
    assert principal == Principal(issued.record.token_id, Role.OPERATOR, frozenset({"s1"}), None)
    token_id, secret = parse_token(issued.secret)
    assert token_id == issued.record.token_id and issued.record.secret_hash == hash_secret(secret)
    assert secret.encode() not in (tmp_path / "cloud.db").read_bytes() + (tmp_path / "cloud.db-wal").read_bytes()


@pytest.mark.parametrize("bad", ["", "Bearer x", "agh_only", "xyz_abc_def", "agh__secret"])
async def test_malformed_tokens_are_refused(store: SqliteStore, bad: str) -> None:
    with pytest.raises(AuthError):
        await Authenticator(store).authenticate(bad)


async def test_wrong_secret_unknown_id_expired_and_revoked_are_refused(store: SqliteStore) -> None:
    auth = Authenticator(store)
    good = issue_token("viewer")
    await store.add_token(good.record)
    with pytest.raises(InvalidTokenError):
        await auth.authenticate(good.secret[:-2] + "xx")
    with pytest.raises(InvalidTokenError):
        await auth.authenticate("agh_0000000000000000_" + good.secret.split("_", 2)[2])
    expired = issue_token("viewer", ttl=timedelta(seconds=10))
    await store.add_token(expired.record)
    assert await auth.authenticate(expired.secret)  # valid now...
    with pytest.raises(TokenExpiredError):
        await auth.authenticate(expired.secret, now=utcnow() + timedelta(seconds=11))  # ...and not later
    await store.revoke_token(good.record.token_id, utcnow())
    with pytest.raises(TokenRevokedError):
        await auth.authenticate(good.secret)


def test_issue_checks_role_edge_and_sites() -> None:
    with pytest.raises(ConfigError, match="unknown role"):
        issue_token("root")
    with pytest.raises(ConfigError, match="--edge"):
        issue_token("edge")
    with pytest.raises(ConfigError, match="--edge"):
        issue_token("viewer", edge_id="e1")
    with pytest.raises(ConfigError, match="at least one site"):
        issue_token("viewer", sites=frozenset())
    assert issue_token("edge", edge_id="e1").record.edge_id == "e1"
    assert issue_token("admin", ttl=None).record.expires_ts is None


def test_permission_table() -> None:
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    assert Permission.AUDIT_READ not in ROLE_PERMISSIONS[Role.OPERATOR]
    assert ROLE_PERMISSIONS[Role.AUDITOR] == {Permission.AUDIT_READ}
    assert Permission.PLANS_CREATE not in ROLE_PERMISSIONS[Role.VIEWER]
    assert Permission.TOKENS_MANAGE not in ROLE_PERMISSIONS[Role.EDGE] | ROLE_PERMISSIONS[Role.OPERATOR]
    viewer = Principal("t", Role.VIEWER)
    viewer.require(Permission.DEVICES_READ)
    with pytest.raises(PermissionDeniedError, match="viewer lacks permission plans:create"):
        viewer.require(Permission.PLANS_CREATE)


def test_visibility_by_site_and_edge() -> None:
    scoped = Principal("t", Role.OPERATOR, frozenset({"a"}))
    edge = Principal("t", Role.EDGE, None, "e1")
    mine, other = EdgeRecord("e1", "a"), EdgeRecord("e2", "a")
    assert scoped.sees_edge(mine) and scoped.sees_edge(other) and not scoped.sees_edge(EdgeRecord("e3", "b"))
    assert edge.sees_edge(mine) and not edge.sees_edge(other)
    assert edge.sees_device(Device("d", "e1", "a", "light", "D")) and not edge.sees_device(
        Device("d", "e2", "a", "light", "D"))
    assert scoped.caller.sees("a") and not scoped.caller.sees("b")
    assert edge.caller.subject == "edge:e1" and edge.caller.role == "edge"
