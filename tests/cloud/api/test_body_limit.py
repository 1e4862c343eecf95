"""Request bodies over the limit get 413 before they are read; bad JSON of any shape is a 4xx, never a 5xx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.cloud.conftest import EDGE_A, Cloud

LIMIT = 1 << 20  # the default max_body_bytes


async def post(cloud: Cloud, content: bytes | AsyncIterator[bytes]) -> tuple[int, dict[str, str]]:
    headers = {**await cloud.as_("admin"), "Content-Type": "application/json"}
    response = await cloud.client.post("/v1/plan", content=content, headers=headers)
    return response.status_code, response.json()["error"] if response.status_code >= 400 else {}


async def test_a_declared_50_mb_body_is_refused_with_413(cloud: Cloud) -> None:
    body = b'{"text": "' + b"a" * 50_000_000 + b'", "edge_id": "edge-a", "language": "en"}'
    status, error = await post(cloud, body)
    assert status == 413 and error["code"] == "payload_too_large"
    assert cloud.planner.calls == []


async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(cloud: Cloud) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"text": "'
        for _ in range(200):  # 20 MB if it were all read
            sent += 100_000
            yield b"a" * 100_000
        yield b'"}'

    status, error = await post(cloud, chunks())
    assert status == 413 and error["code"] == "payload_too_large"
    assert sent < 20_000_000  # the rest was never pulled from the client


async def test_a_body_just_under_the_limit_still_reaches_validation(cloud: Cloud) -> None:
    body = b'{"text": "' + b"a" * (LIMIT - 100) + b'", "edge_id": "edge-a", "language": "en"}'
    assert len(body) <= LIMIT
    status, error = await post(cloud, body)
    assert status == 422 and "text" in error["message"]  # too long a request, said by the schema


@pytest.mark.parametrize("body", [
    b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"\xff\xfe\x00",
    b'{"text": NaN, "edge_id": "edge-a"}',
    b"",
])
async def test_hostile_json_is_a_client_error(cloud: Cloud, body: bytes) -> None:
    status, _ = await post(cloud, body)
    assert 400 <= status < 500


async def test_a_normal_request_is_unaffected(cloud: Cloud) -> None:
    status, _ = await post(cloud, b'{"text": "turn off the lights", "edge_id": "%s", "language": "en"}'
                           % EDGE_A.encode())
    assert status == 200 and len(cloud.planner.calls) == 1
