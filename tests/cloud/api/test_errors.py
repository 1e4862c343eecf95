"""Error answers: one body shape for every status (documented in the OpenAPI document), a catch-all for bugs,
Retry-After on 429/503, and header values that used to reach a 500."""

from __future__ import annotations

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud.api import ROUTERS
from shared.errors import PlannerOverloadedError
from tests.cloud.conftest import Cloud

URL = "/v1/devices/light.kitchen/twin/desired"


@pytest.mark.parametrize("if_match", ["²", "³", '"¹"', "9" * 19, "9" * 5000])
async def test_if_match_that_is_not_a_small_ascii_number_is_a_422(cloud: Cloud, if_match: str) -> None:
    headers = {**await cloud.as_("operator"), "If-Match": if_match.encode("latin-1")}
    response = await cloud.client.patch(URL, json={"values": {"state": "ON"}}, headers=headers)
    assert response.status_code == 422 and response.json()["error"]["code"] == "contract_error"


async def test_an_expected_version_past_64_bits_is_a_422(cloud: Cloud) -> None:
    response = await cloud.client.patch(URL, json={"values": {"state": "ON"}, "expected_version": 2**63},
                                        headers=await cloud.as_("operator"))
    assert response.status_code == 422


async def test_an_unhandled_error_is_a_500_in_the_api_error_shape(cloud: Cloud) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    cloud.app.add_api_route("/broken", broken)
    transport = httpx.ASGITransport(app=cloud.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://cloud.test") as client:
        response = await client.get("/broken", headers={"X-Trace-ID": "trace-500"})
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error",
                                         "message": "internal server error (trace id trace-500 in the server log)"}}


async def test_planner_overload_and_unavailability_say_when_to_retry(cloud: Cloud) -> None:
    async def overloaded(*_args: object, **_kwargs: object) -> None:
        raise PlannerOverloadedError("queue full")

    cloud.planner.propose = overloaded  # type: ignore[method-assign]
    body = {"text": "lights off", "edge_id": "edge-a"}
    response = await cloud.client.post("/v1/plan", json=body, headers=await cloud.as_("operator"))
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    cloud.app.state.services.plans.planner = None
    response = await cloud.client.post("/v1/plan", json=body, headers=await cloud.as_("operator"))
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"


async def test_a_400_from_the_framework_says_bad_request(cloud: Cloud) -> None:
    async def unparseable() -> None:  # what FastAPI raises when a body cannot be parsed at all
        raise StarletteHTTPException(400, "There was an error parsing the body")

    cloud.app.add_api_route("/unparseable", unparseable)
    response = await cloud.client.get("/unparseable")
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


async def test_every_protected_operation_documents_its_errors_with_the_error_body(cloud: Cloud) -> None:
    spec = (await cloud.client.get("/openapi.json")).json()
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute) and r.path.startswith("/v1/")]
    assert routes
    for route in routes:
        for method in route.methods:
            responses = spec["paths"][route.path][method.lower()]["responses"]
            for status in ("400", "401", "403", "413", "422"):
                assert responses[status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"}, (method, route.path, status)
            if "{" in route.path:
                assert "404" in responses, (method, route.path)
