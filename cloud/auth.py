"""API tokens, roles and permissions.

A token reads `agh_<id>_<secret>`; only sha256(secret) is stored and compared in constant time.
Roles: admin (everything), operator (fleet read/write, commands, plans), viewer (read fleet and plans),
auditor (audit log only), edge (one edge's own credential: its devices, heartbeat, and the plans it asks for and runs).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from cloud.fleet import Caller, Device
from cloud.store import EdgeRecord, Store, TokenRecord
from shared.envelope import utcnow
from shared.errors import AuthError, ConfigError, PermissionDeniedError

TOKEN_PREFIX: Final = "agh"


class Role(StrEnum):
    """Who a token belongs to."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"
    AUDITOR = "auditor"
    EDGE = "edge"


class Permission(StrEnum):
    """What an endpoint needs; each endpoint declares exactly one."""

    TOKENS_MANAGE = "tokens:manage"
    EDGES_READ = "edges:read"
    EDGES_WRITE = "edges:write"
    EDGES_HEARTBEAT = "edges:heartbeat"
    DEVICES_READ = "devices:read"
    TWINS_WRITE = "twins:write"
    COMMANDS_SEND = "commands:send"
    PLANS_CREATE = "plans:create"
    PLANS_READ = "plans:read"
    PLANS_RUN = "plans:run"
    PLANS_CANCEL = "plans:cancel"
    AUDIT_READ = "audit:read"


_P = Permission
ROLE_PERMISSIONS: Final[dict[Role, frozenset[Permission]]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset({_P.EDGES_READ, _P.EDGES_WRITE, _P.DEVICES_READ, _P.TWINS_WRITE, _P.COMMANDS_SEND,
                              _P.PLANS_CREATE, _P.PLANS_READ, _P.PLANS_RUN, _P.PLANS_CANCEL}),
    Role.VIEWER: frozenset({_P.EDGES_READ, _P.DEVICES_READ, _P.PLANS_READ}),
    Role.AUDITOR: frozenset({_P.AUDIT_READ}),
    # An edge plans and runs what it cannot do locally, on its own devices only (Principal.sees_edge).
    Role.EDGE: frozenset({_P.EDGES_READ, _P.EDGES_HEARTBEAT, _P.DEVICES_READ, _P.PLANS_CREATE, _P.PLANS_READ,
                          _P.PLANS_RUN}),
}


class InvalidTokenError(AuthError):
    """A token that is malformed, unknown, or whose secret does not match."""

    code = "invalid_token"


class TokenExpiredError(AuthError):
    """A token past its expiry."""

    code = "token_expired"


class TokenRevokedError(AuthError):
    """A token that was revoked."""

    code = "token_revoked"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated token: its role, the sites it may see, and for edge credentials, its edge."""

    token_id: str
    role: Role
    sites: frozenset[str] | None = None
    edge_id: str | None = None

    @property
    def subject(self) -> str:
        """Who acts, as the audit log names it."""
        return f"edge:{self.edge_id}" if self.role is Role.EDGE else f"token:{self.token_id}"

    @property
    def caller(self) -> Caller:
        """The planner's and executor's view of this principal."""
        return Caller(subject=self.subject, role=self.role.value, sites=self.sites)

    def can(self, permission: Permission) -> bool:
        """True when the role grants `permission`."""
        return permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        """PermissionDeniedError unless the role grants `permission`."""
        if not self.can(permission):
            raise PermissionDeniedError(f"role {self.role.value} lacks permission {permission.value}")

    def sees_site(self, site: str) -> bool:
        """True when the token's sites include `site`."""
        return self.sites is None or site in self.sites

    def sees_edge(self, edge: EdgeRecord) -> bool:
        """True when this principal may see `edge` (its site; an edge credential sees only its own edge)."""
        if self.role is Role.EDGE and edge.edge_id != self.edge_id:
            return False
        return self.sees_site(edge.site)

    def sees_device(self, device: Device) -> bool:
        """True when this principal may see `device`."""
        if self.role is Role.EDGE and device.edge_id != self.edge_id:
            return False
        return self.sees_site(device.site)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: the record to store and the secret shown once."""

    record: TokenRecord
    secret: str


def hash_secret(secret: str) -> str:
    """sha256 of a token secret, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str]:
    """(token id, secret) of `agh_<id>_<secret>`; InvalidTokenError when malformed."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        raise InvalidTokenError("malformed token: expected agh_<id>_<secret>")
    return parts[1], parts[2]


def issue_token(role: Role | str, *, sites: frozenset[str] | None = None, edge_id: str | None = None,
                ttl: timedelta | None = None, name: str | None = None, now: datetime | None = None) -> IssuedToken:
    """A fresh token; edge credentials must name their edge, other roles must not."""
    try:
        role = Role(role)
    except ValueError:
        raise ConfigError(f"unknown role {role!r}: use one of {', '.join(r.value for r in Role)}") from None
    if (role is Role.EDGE) != (edge_id is not None):
        raise ConfigError("an edge token needs --edge EDGE_ID, and only edge tokens take one")
    if sites is not None and not sites:
        raise ConfigError("sites must be None (every site) or name at least one site")
    now = now or utcnow()
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    record = TokenRecord(token_id=token_id, secret_hash=hash_secret(secret), role=role.value, created_ts=now,
                         sites=sites, edge_id=edge_id, name=name, expires_ts=now + ttl if ttl else None)
    return IssuedToken(record, f"{TOKEN_PREFIX}_{token_id}_{secret}")


class Authenticator:
    """Checks bearer tokens against the store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def authenticate(self, token: str | None, *, now: datetime | None = None) -> Principal:
        """The principal of a valid token; AuthError subclasses for missing, bad, expired or revoked ones."""
        if not token:
            raise AuthError("missing bearer token: send 'Authorization: Bearer agh_...'")
        token_id, secret = parse_token(token)
        record = await self._store.get_token(token_id)
        # Compare even for unknown ids so timing does not tell which ids exist.
        expected = record.secret_hash if record else hash_secret(secrets.token_hex(16))
        if not hmac.compare_digest(expected, hash_secret(secret)) or record is None:
            raise InvalidTokenError("unknown token or wrong secret")
        if record.revoked_ts is not None:
            raise TokenRevokedError(f"token {token_id} was revoked")
        if record.expires_ts is not None and (now or utcnow()) >= record.expires_ts:
            raise TokenExpiredError(f"token {token_id} expired at {record.expires_ts.isoformat()}")
        return Principal(token_id, Role(record.role), record.sites, record.edge_id)
