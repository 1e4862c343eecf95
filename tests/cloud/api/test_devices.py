"""Devices and twins: filters, site scope, desired updates with If-Match / expected_version and 409 conflicts."""

from __future__ import annotations

from typing import Any

from cloud.fleet import Device
from cloud.store import AuditQuery
from shared.twin import TwinValue
from tests.cloud.conftest import EDGE_A, SITE_A, SITE_B, Cloud

URL = "/v1/devices/light.kitchen/twin/desired"


async def test_list_filters_and_site_scope(cloud: Cloud) -> None:
    viewer = await cloud.as_("viewer")
    everything = (await cloud.client.get("/v1/devices", headers=viewer)).json()
    assert [d["device_id"] for d in everything] == ["light.b_bedroom", "light.kitchen", "lock.front_door"]
    assert "light.turn_on" in everything[0]["actions"]
    for params, expected in (({"site": SITE_B}, ["light.b_bedroom"]), ({"edge_id": EDGE_A, "domain": "lock"},
                             ["lock.front_door"]), ({"area": "Kitchen"}, ["light.kitchen"])):
        listed = (await cloud.client.get("/v1/devices", params=params, headers=viewer)).json()
        assert [d["device_id"] for d in listed] == expected
    scoped = await cloud.as_("viewer", sites={SITE_A})
    assert [d["device_id"] for d in (await cloud.client.get("/v1/devices", params={"site": SITE_B},
                                                            headers=scoped)).json()] == []
    assert (await cloud.client.get("/v1/devices/light.b_bedroom", headers=scoped)).status_code == 404
    edge = await cloud.as_("edge", edge_id=EDGE_A)
    assert len((await cloud.client.get("/v1/devices", headers=edge)).json()) == 2


async def test_get_device_with_twin_and_etag(cloud: Cloud) -> None:
    await cloud.store.merge_reported("light.kitchen", {"state": TwinValue(value="ON", version=4)})
    response = await cloud.client.get("/v1/devices/light.kitchen", headers=await cloud.as_("viewer"))
    body = response.json()
    assert response.headers["ETag"] == '"0"' and body["version"] == 0
    assert body["state"] == {"state": "ON"}
    assert body["twin"]["properties"]["state"]["reported"]["version"] == 4
    missing = await cloud.client.get("/v1/devices/nope", headers=await cloud.as_("viewer"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_desired_update_with_if_match_and_conflict(cloud: Cloud) -> None:
    op = await cloud.as_("operator")
    first = await cloud.client.patch(URL, json={"values": {"state": "ON"}}, headers={**op, "If-Match": '"0"'})
    assert first.status_code == 200 and first.json()["version"] == 1 and first.headers["ETag"] == '"1"'
    second = await cloud.client.patch(URL, json={"values": {"brightness": 40}, "expected_version": 1}, headers=op)
    assert second.json()["version"] == 2
    stale = await cloud.client.patch(URL, json={"values": {"state": "OFF"}}, headers={**op, "If-Match": "1"})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "version_conflict"
    twin = await cloud.store.twin("light.kitchen")
    assert twin is not None and twin.document.properties["state"].desired.value == "ON"  # type: ignore[union-attr]
    actions = [e.action for e in await cloud.store.list_audit(AuditQuery(target="device:light.kitchen"))]
    assert actions == ["twin.conflict", "twin.desired", "twin.desired"]
    unguarded = await cloud.client.patch(URL, json={"values": {"state": "OFF"}}, headers=op)
    assert unguarded.json()["version"] == 3


async def test_bad_desired_bodies(cloud: Cloud) -> None:
    op = await cloud.as_("operator")
    for body, headers in (({"values": {}}, {}), ({"vals": {"a": 1}}, {}), ({"values": {"a": 1}}, {"If-Match": "x"}),
                          ({"values": {"a": 1}, "expected_version": 2}, {"If-Match": '"1"'})):
        response = await cloud.client.patch(URL, json=body, headers={**op, **headers})
        assert response.status_code == 422, (body, headers, response.text)
        assert set(response.json()["error"]) == {"code", "message"}
    assert (await cloud.client.patch("/v1/devices/nope/twin/desired", json={"values": {"a": 1}},
                                     headers=op)).status_code == 404


async def test_desired_update_is_pushed_when_a_publisher_is_wired(cloud: Cloud) -> None:
    pushed: list[tuple[str, dict[str, Any], str]] = []

    class Publisher:
        async def publish_desired(self, device: Device, values: dict[str, TwinValue], *, trace_id: str) -> None:
            pushed.append((device.device_id, {k: (v.value, v.version) for k, v in values.items()}, trace_id))

    cloud.app.state.services.desired_publisher = Publisher()
    op = await cloud.as_("operator")
    await cloud.client.patch(URL, json={"values": {"state": "ON"}}, headers={**op, "X-Trace-ID": "tr-9"})
    assert pushed == [("light.kitchen", {"state": ("ON", 1)}, "tr-9")]
