"""Token management over the API: issue (secret once), list without secrets, revoke takes effect at once."""

from __future__ import annotations

from tests.cloud.conftest import EDGE_A, SITE_A, SITE_B, Cloud


async def test_issue_list_and_revoke(cloud: Cloud) -> None:
    admin = await cloud.as_("admin")
    created = await cloud.client.post("/v1/tokens", json={"role": "viewer", "sites": [SITE_A], "ttl_days": 1},
                                      headers=admin)
    assert created.status_code == 201
    body = created.json()
    secret = body["token"]
    assert secret.startswith(f"agh_{body['token_id']}_") and body["expires_ts"] is not None
    viewer = {"Authorization": f"Bearer {secret}"}
    assert (await cloud.client.get("/v1/edges", headers=viewer)).status_code == 200
    listed = (await cloud.client.get("/v1/tokens", headers=admin)).json()
    assert body["token_id"] in [t["token_id"] for t in listed] and all("token" not in t for t in listed)
    revoked = await cloud.client.delete(f"/v1/tokens/{body['token_id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_ts"] is not None
    refused = await cloud.client.get("/v1/edges", headers=viewer)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_revoked"
    assert (await cloud.client.delete("/v1/tokens/nope", headers=admin)).status_code == 404


async def test_edge_tokens_and_bad_requests(cloud: Cloud) -> None:
    admin = await cloud.as_("admin")
    edge = await cloud.client.post("/v1/tokens", json={"role": "edge", "edge_id": EDGE_A}, headers=admin)
    assert edge.status_code == 201 and edge.json()["edge_id"] == EDGE_A
    no_edge = await cloud.client.post("/v1/tokens", json={"role": "edge"}, headers=admin)
    assert no_edge.status_code == 422 and "edge_id" in no_edge.json()["error"]["message"]
    viewer_with_edge = await cloud.client.post("/v1/tokens", json={"role": "viewer", "edge_id": EDGE_A}, headers=admin)
    assert viewer_with_edge.status_code == 422
    assert (await cloud.client.post("/v1/tokens", json={"role": "root"}, headers=admin)).status_code == 422
    assert (await cloud.client.post("/v1/tokens", json={"role": "viewer", "sites": []}, headers=admin)).status_code \
        == 422


async def test_site_scoped_admin_stays_in_its_sites(cloud: Cloud) -> None:
    scoped = await cloud.as_("admin", sites={SITE_A})
    everywhere = await cloud.client.post("/v1/tokens", json={"role": "viewer"}, headers=scoped)
    assert everywhere.status_code == 403
    other = await cloud.client.post("/v1/tokens", json={"role": "viewer", "sites": [SITE_B]}, headers=scoped)
    assert other.status_code == 403
    mine = await cloud.client.post("/v1/tokens", json={"role": "viewer", "sites": [SITE_A]}, headers=scoped)
    assert mine.status_code == 201
    visible = {t["token_id"] for t in (await cloud.client.get("/v1/tokens", headers=scoped)).json()}
    assert mine.json()["token_id"] in visible and len(visible) == 2  # itself and the one it made
