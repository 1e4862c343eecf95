"""The cloud API's intended access rules, written out by hand: every route, what each role gets, and the seed
fleet the rules are checked against. The RBAC test (tests/cloud/test_rbac_matrix.py) and the reliability
scenarios (bench/reliability/api_*.py) read this table, so it is written once.

It is an oracle, not product code: it restates `cloud.auth.ROLE_PERMISSIONS` and each route's declared permission
as the statuses a caller should see, so a change to either shows up as a mismatch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROLES = ("admin", "operator", "viewer", "auditor", "edge")
SITE_A, SITE_B = "site-a", "site-b"
EDGE_A, EDGE_B = "edge-a", "edge-b"
DEVICE_A = "light.kitchen"
FLEET_READERS = ("admin", "operator", "viewer", "edge")
#: The edge model version `seed_edge_model` offers (a manifest and one small file: the cloud never loads it).
MODEL_VERSION = "rbac-model"


@dataclass(frozen=True)
class Endpoint:
    """One route with a request that would succeed for an allowed role, and the status each role gets."""

    method: str
    path: str
    expected: dict[str, int]
    body: dict[str, Any] | None = None

    def url(self, ids: dict[str, str]) -> str:
        """The path with `{edge_id}`, `{device_id}`, `{plan_id}`, `{token_id}`, `{version}`, `{name}` filled in."""
        return self.path.format(**{"version": MODEL_VERSION, "name": "manifest.json", **ids})

    @property
    def protected(self) -> bool:
        """True for routes that need a token (everything under /v1/)."""
        return self.path.startswith("/v1/")

    @property
    def on_site_a(self) -> bool:
        """True for routes that act on one site-A resource: other-site tokens must not learn it exists."""
        return self.protected and (self.path == "/v1/plan" or ("{" in self.path and "token_id" not in self.path
                                                                and not self.path.startswith("/v1/edge-models")))


def statuses(ok: int, allowed: tuple[str, ...]) -> dict[str, int]:
    """`ok` for the allowed roles, 403 for the others."""
    return {role: ok if role in allowed else 403 for role in ROLES}


MATRIX = (
    Endpoint("GET", "/healthz", dict.fromkeys(ROLES, 200)),
    Endpoint("GET", "/readyz", dict.fromkeys(ROLES, 200)),
    Endpoint("GET", "/metrics", dict.fromkeys(ROLES, 200)),
    Endpoint("POST", "/v1/tokens", statuses(201, ("admin",)), {"role": "viewer"}),
    Endpoint("GET", "/v1/tokens", statuses(200, ("admin",))),
    Endpoint("DELETE", "/v1/tokens/{token_id}", statuses(200, ("admin",))),
    Endpoint("POST", "/v1/edges", statuses(201, ("admin", "operator")), {"edge_id": "edge-new", "site": SITE_A}),
    Endpoint("GET", "/v1/edges", statuses(200, FLEET_READERS)),
    Endpoint("GET", "/v1/edges/{edge_id}", statuses(200, FLEET_READERS)),
    Endpoint("POST", "/v1/edges/{edge_id}/heartbeat", statuses(200, ("admin", "edge"))),
    Endpoint("POST", "/v1/edges/{edge_id}/commands", statuses(202, ("admin", "operator")), {"text": "lights off"}),
    Endpoint("POST", "/v1/edges/{edge_id}/models", statuses(202, ("admin", "operator")),
             {"action": "activate", "version": MODEL_VERSION}),
    Endpoint("GET", "/v1/edge-models", statuses(200, FLEET_READERS)),
    Endpoint("GET", "/v1/edge-models/{version}/files/{name}", statuses(200, FLEET_READERS)),
    Endpoint("GET", "/v1/devices", statuses(200, FLEET_READERS)),
    Endpoint("GET", "/v1/devices/{device_id}", statuses(200, FLEET_READERS)),
    Endpoint("PATCH", "/v1/devices/{device_id}/twin/desired", statuses(200, ("admin", "operator")),
             {"values": {"state": "ON"}}),
    Endpoint("POST", "/v1/plan", statuses(200, ("admin", "operator", "edge")), {"text": "lights off",
                                                                                "edge_id": EDGE_A}),
    Endpoint("GET", "/v1/plans", statuses(200, FLEET_READERS)),
    Endpoint("GET", "/v1/plans/{plan_id}", statuses(200, FLEET_READERS)),
    Endpoint("POST", "/v1/plans/{plan_id}/run", statuses(202, ("admin", "operator", "edge")), {"confirm": False}),
    Endpoint("POST", "/v1/plans/{plan_id}/cancel", statuses(200, ("admin", "operator"))),
    Endpoint("GET", "/v1/audit", statuses(200, ("admin", "auditor"))),
)
PROTECTED = tuple(e for e in MATRIX if e.protected)
ON_SITE_A_RESOURCE = tuple(e for e in MATRIX if e.on_site_a)


def seed_edge_model(root: Path) -> None:
    """Offer MODEL_VERSION under `root` (the cloud's edge_models_root), so the model routes have a version."""
    directory = root / MODEL_VERSION
    if (directory / "manifest.json").exists():
        return
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "weights.bin").write_bytes(b"\0" * 16)
    manifest = {"format_version": 1, "version": MODEL_VERSION, "created": "2026-12-05T00:00:00Z", "languages": ["en"],
                "intents": ["HassTurnOn", "out_of_scope"], "slot_labels": ["O"], "model_file": "weights.bin",
                "thresholds": {"default": 0.5, "high_risk": 0.8}, "data_hash": "seed",
                "files": {"weights.bin": "374708fff7719dd5979ec875d56cd2286f6d3cf7ec317a3b25632aab28ec37bb"}}
    (directory / "manifest.json").write_text(json.dumps(manifest))


def other_site_expected(endpoint: Endpoint, role: str) -> int:
    """What a token of site B (or edge B's credential) gets on a site-A resource: 404, or 403 if its role lacks
    the permission anyway (the role check comes before the lookup)."""
    return 403 if endpoint.expected[role] == 403 else 404
