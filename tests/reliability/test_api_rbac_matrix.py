"""Every role, route and site against the cloud API, with the site-blind negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.api_matrix import MATRIX, ON_SITE_A_RESOURCE, ROLES
from bench.reliability.api_rbac_matrix import rbac_matrix


def test_every_role_route_and_site_gets_the_intended_status(tmp_path: Path) -> None:
    figures = asyncio.run(rbac_matrix(tmp_path))
    assert figures["rbac_mismatches"] == 0, figures["examples"]
    assert figures["calls"] == len(MATRIX) * len(ROLES) + 2 * len(ON_SITE_A_RESOURCE) + 3


def test_negative_control_a_site_blind_authenticator_shows_mismatches(tmp_path: Path) -> None:
    figures = asyncio.run(rbac_matrix(tmp_path, site_blind=True))
    assert figures["rbac_mismatches"] >= len(ON_SITE_A_RESOURCE)  # site-B admins reach every site-A resource
