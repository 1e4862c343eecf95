"""Role x route x method x site against the cloud API in-process: every status as `api_matrix.MATRIX` intends.

Every role on every route of `api_matrix.MATRIX`, and site-B tokens on every site-A resource and list, against a real
broker (commands and plan runs are accepted) and the shipped tiny planner. Negative control: an authenticator that
forgets the token's sites.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from bench.reliability.api_matrix import (
    EDGE_A,
    EDGE_B,
    MATRIX,
    ON_SITE_A_RESOURCE,
    ROLES,
    SITE_B,
    other_site_expected,
)
from bench.reliability.rig_api import add_token, api_under_test, bearer
from bench.reliability.scenario import Scenario
from cloud.auth import Authenticator, Principal


class SiteBlindAuthenticator(Authenticator):
    """Negative control: checks the token but forgets its sites (every token sees every site)."""

    async def authenticate(self, token: str | None, *, now: datetime | None = None) -> Principal:
        principal = await super().authenticate(token, now=now)
        return Principal(principal.token_id, principal.role, None, principal.edge_id)


async def rbac_matrix(workdir: Path, *, site_blind: bool = False) -> dict[str, Any]:
    """Every role on every route, then site-B tokens on site-A resources and lists; count status mismatches."""
    mismatches: list[str] = []
    calls = 0
    async with api_under_test(workdir, planner=not site_blind,
                              authenticator=SiteBlindAuthenticator if site_blind else None) as api:
        if not site_blind:  # the negative control only needs the site dimension
            for endpoint in MATRIX:
                for role in ROLES:
                    secret = await add_token(api.store, role, edge_id=EDGE_A if role == "edge" else None)
                    got, calls = await api.call(endpoint, bearer(secret)), calls + 1
                    if got != endpoint.expected[role]:
                        mismatches.append(f"{role} {endpoint.method} {endpoint.path}: {got} != "
                                          f"{endpoint.expected[role]}")
        for endpoint in ON_SITE_A_RESOURCE:
            for role, headers in (("admin", bearer(await add_token(api.store, "admin", sites={SITE_B}))),
                                  ("edge", bearer(await add_token(api.store, "edge", edge_id=EDGE_B)))):
                got, calls = await api.call(endpoint, headers), calls + 1
                if got != other_site_expected(endpoint, role):
                    mismatches.append(f"site-B {role} {endpoint.method} {endpoint.path}: {got} != "
                                      f"{other_site_expected(endpoint, role)}")
        other = bearer(await add_token(api.store, "admin", sites={SITE_B}))
        for path in ("/v1/edges", "/v1/devices", "/v1/plans"):
            listed, calls = (await api.client.get(path, headers=other)).json(), calls + 1
            leaked = [item for item in listed if item.get("site") != SITE_B]
            if leaked or not listed:
                mismatches.append(f"site-B admin GET {path}: {len(leaked)} of {len(listed)} items of other sites")
    return {"calls": calls, "routes": len(MATRIX), "roles": len(ROLES), "site_blind": site_blind,
            "rbac_mismatches": len(mismatches), "examples": mismatches[:5]}


SCENARIOS = (
    Scenario("api.rbac_matrix", "role x route x method x site: every status as the matrix intends",
             lambda d, full, seed: rbac_matrix(d / "rbac"), {"rbac_mismatches": "rbac_mismatches"}),
    Scenario("api.rbac_matrix.site_blind", "negative control: an authenticator that forgets the token's sites",
             lambda d, full, seed: rbac_matrix(d / "rbac-nc", site_blind=True), {}, negative_control=True,
             loss_figure="rbac_mismatches"),
)
