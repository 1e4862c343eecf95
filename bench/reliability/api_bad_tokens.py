"""Bad tokens against the cloud API in-process: missing, malformed, wrong-secret, forged, expired, revoked and
other-site tokens on every protected route; any 2xx is an unauthorized call.

Negative control: an authenticator that only looks the token id up.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.reliability.api_matrix import (
    EDGE_B,
    ON_SITE_A_RESOURCE,
    PROTECTED,
    SITE_B,
)
from bench.reliability.rig_api import add_token, api_under_test, bearer
from bench.reliability.scenario import Scenario
from cloud.auth import Authenticator, InvalidTokenError, Principal, Role, parse_token
from cloud.sqlite_store import SqliteStore


class LaxAuthenticator(Authenticator):
    """Negative control: finds the token by id and believes it (no secret, expiry or revocation check)."""

    def __init__(self, store: SqliteStore) -> None:
        super().__init__(store)
        self.records = store

    async def authenticate(self, token: str | None, *, now: datetime | None = None) -> Principal:
        token_id, _secret = parse_token(token or "")
        record = await self.records.get_token(token_id)
        if record is None:
            raise InvalidTokenError("unknown token")
        return Principal(token_id, Role(record.role), record.sites, record.edge_id)


async def bad_tokens(workdir: Path, *, lax: bool = False) -> dict[str, Any]:
    """Every kind of bad token on every protected route: none may be accepted, each must be a 401 (or 404 for
    other-site tokens on a site-A resource)."""
    accepted: list[str] = []
    wrong_status: list[str] = []
    calls = 0
    async with api_under_test(workdir, planner=False, authenticator=LaxAuthenticator if lax else None) as api:
        admin = await add_token(api.store, "admin")
        token_id, secret = parse_token(admin)
        other_id = parse_token(await add_token(api.store, "viewer"))[0]
        cases = {
            "missing": {}, "not bearer": {"Authorization": f"Basic {admin}"},
            "malformed": bearer("nonsense"), "empty secret": bearer(f"agh_{token_id}_"),
            "wrong secret": bearer(f"agh_{token_id}_{secret[:-4]}abcd"),
            "forged id": bearer(f"agh_{other_id}_{secret}"),  # a viewer's id with the admin's secret
            "expired": bearer(await add_token(api.store, "admin", ttl=timedelta(seconds=-1))),
            "revoked": bearer(await add_token(api.store, "admin", revoked=True)),
        }
        for endpoint in PROTECTED:
            for name, headers in cases.items():
                got, calls = await api.call(endpoint, headers), calls + 1
                if got < 400:
                    accepted.append(f"{name} {endpoint.method} {endpoint.path}: {got}")
                elif got != 401:
                    wrong_status.append(f"{name} {endpoint.method} {endpoint.path}: {got}")
        for endpoint in ON_SITE_A_RESOURCE:  # valid tokens of the other site
            for name, headers in (("other-site admin", bearer(await add_token(api.store, "admin", sites={SITE_B}))),
                                  ("other edge", bearer(await add_token(api.store, "edge", edge_id=EDGE_B)))):
                got, calls = await api.call(endpoint, headers), calls + 1
                if got < 400:
                    accepted.append(f"{name} {endpoint.method} {endpoint.path}: {got}")
    return {"calls": calls, "token_kinds": len(cases) + 2, "lax_verifier": lax, "unauthorized_calls": len(accepted),
            "wrong_status": len(wrong_status), "examples": (accepted + wrong_status)[:5]}


SCENARIOS = (
    Scenario("api.bad_tokens", "expired, revoked, wrong-secret, forged and other-site tokens: none accepted",
             lambda d, full, seed: bad_tokens(d / "tokens"), {"unauthorized_calls": "unauthorized_calls"}),
    Scenario("api.bad_tokens.lax_verifier", "negative control: a verifier that skips secret, expiry and revocation",
             lambda d, full, seed: bad_tokens(d / "tokens-nc", lax=True), {}, negative_control=True,
             loss_figure="unauthorized_calls"),
)
