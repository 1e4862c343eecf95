"""The cloud API as a real server (`autoglm cloud serve` in a child process) under hostile HTTP and load.

- 50 MB bodies, streamed (chunked) and declared (Content-Length), sent over a raw socket: the server must answer
  413 while most of the body is still unsent, and its resident memory must not grow by the body's size.
- JSON nested 100,000 levels deep: a 4xx.
- A burst of concurrent `POST /v1/plan` requests against the shipped tiny planner with a bounded queue: every
  answer is 200, 422 (the model's plan was refused), 429 with Retry-After (queue full) or 503 with Retry-After;
  anything else 5xx counts in `api_5xx`, a request without an answer in `unanswered`; VmRSS is sampled throughout.
Negative controls: the body limit raised to 1 GiB (the 50 MB body is read whole), and a queue without a useful
bound (requests wait past their deadline and end in 504s instead of an early 429).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import select
import socket
import time
from pathlib import Path
from typing import Any

import httpx

from bench.reliability.api_matrix import DEVICE_A, EDGE_A, SITE_A
from bench.reliability.procs import CloudProcess
from bench.reliability.scenario import Scenario
from cloud.auth import issue_token
from cloud.fleet import Device
from cloud.sqlite_store import SqliteStore

BODY_MB = 50
#: Most the server's resident memory may grow during hostile bodies and a plan burst (the model is loaded before).
RSS_BOUND_MB = 256
#: Answers the plan endpoint may give under load (429 and 503 only with Retry-After).
DESIGNED = frozenset({200, 413, 422, 429, 503})
TEXTS = ("turn off the kitchen light", "lock the front door", "turn on the kitchen light and lock up",
         "把厨房的灯关掉", "good night")


async def prepare(db: Path) -> str:
    """Seed one site with two devices; the bearer secret of an operator token."""
    store = SqliteStore(db)
    await store.open()
    try:
        await store.upsert_edge(EDGE_A, site=SITE_A, name="Home A")
        await store.upsert_device(Device(DEVICE_A, EDGE_A, SITE_A, "light", "Kitchen Light", "Kitchen"))
        await store.upsert_device(Device("lock.front_door", EDGE_A, SITE_A, "lock", "Front Door", "Hall"))
        issued = issue_token("operator")
        await store.add_token(issued.record)
        return issued.secret
    finally:
        await store.close()


def send_body(port: int, token: str, total: int, *, chunked: bool, chunk: int = 1 << 16) -> tuple[int | None, int]:
    """POST a `total`-byte JSON body to /v1/plan over a raw socket; stop sending once the server answers.

    Returns (status or None if no answer could be read, body bytes sent).
    """
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = (f"POST /v1/plan HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\n{framing}\r\n\r\n").encode()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        data = b'{"text": "' + b"a" * (chunk - 10)
        with contextlib.suppress(OSError):  # a server that stops reading may reset the connection
            while sent < total:
                readable, writable, _ = select.select([sock], [sock], [], 5)
                if readable or not writable:
                    break  # the server answered (or stopped reading): stop sending
                piece = data[: min(len(data), total - sent)]
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
                data = b"a" * chunk
            if chunked and sent >= total:
                sock.sendall(b"0\r\n\r\n")
        return read_status(sock), sent


def read_status(sock: socket.socket) -> int | None:
    """The status code of the response waiting on `sock`, None when there is none to read."""
    sock.settimeout(30)
    buffer = b""
    with contextlib.suppress(OSError):
        while b"\r\n" not in buffer:
            got = sock.recv(4096)
            if not got:
                break
            buffer += got
    parts = buffer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


async def sample_rss(server: CloudProcess, peak: list[int], stop: asyncio.Event) -> None:
    """Keep the highest VmRSS seen in `peak[0]` until `stop` is set."""
    while not stop.is_set():
        peak[0] = max(peak[0], server.rss_kb())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


async def plan_burst(url: str, token: str, requests: int) -> tuple[dict[str, int], int]:
    """`requests` concurrent plan requests; a count per outcome ("200", "429", "429-no-retry-after", ...)."""
    outcomes: collections.Counter[str] = collections.Counter()
    unanswered = 0
    limits = httpx.Limits(max_connections=requests, max_keepalive_connections=requests)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        async def one(i: int) -> None:
            nonlocal unanswered
            text = TEXTS[i % len(TEXTS)]
            body = {"text": text, "edge_id": EDGE_A, "language": "en" if text.isascii() else "zh"}
            try:
                response = await client.post("/v1/plan", json=body)
            except httpx.HTTPError:
                unanswered += 1
                return
            status = response.status_code
            retry = status not in (429, 503) or "retry-after" in response.headers
            outcomes[str(status) if retry else f"{status}-no-retry-after"] += 1

        await asyncio.gather(*(one(i) for i in range(requests)))
    return dict(outcomes), unanswered


def server_settings(db: Path, **cloud: Any) -> dict[str, Any]:
    """The `[cloud]` table: no MQTT, the tiny planner on the CPU with a small queue, then `cloud` overrides."""
    planner = {"device": "cpu", "lazy_load": False, "max_queue": 64, "max_batch_size": 32,
               "request_timeout_s": 30.0, **cloud.pop("planner", {})}
    return {"db_path": str(db), "mqtt_enabled": False, "planner": planner, **cloud}


async def hostile_server(workdir: Path, requests: int, *, max_body_bytes: int | None = None,
                         planner: dict[str, Any] | None = None, bodies: bool = True) -> dict[str, Any]:
    """Hostile bodies (if `bodies`), then a burst of `requests` concurrent plans, against a real server."""
    extra: dict[str, Any] = {"planner": planner or {}}
    if max_body_bytes is not None:
        extra["max_body_bytes"] = max_body_bytes
    server = CloudProcess(workdir / "server", server_settings(workdir / "cloud.db", **extra))  # makes `workdir`
    token = await prepare(workdir / "cloud.db")
    figures: dict[str, Any] = {"requests": requests}
    with server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60,
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            if requests:  # one plan first, so the model's own memory is in the baseline
                warm = await client.post("/v1/plan", json={"text": "turn off the kitchen light", "edge_id": EDGE_A})
                figures["warm_up_status"] = warm.status_code
            rss_before = server.rss_kb()
            peak = [rss_before]
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_rss(server, peak, stop))
            try:
                if bodies:
                    total = BODY_MB * 1_000_000
                    for name, chunked in (("streamed", True), ("declared", False)):
                        status, sent = await asyncio.to_thread(send_body, server.port, token, total, chunked=chunked)
                        figures[f"{name}_{BODY_MB}mb_status"] = status
                        figures[f"{name}_{BODY_MB}mb_sent_mb"] = round(sent / 1e6, 1)
                    nested = b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b', "edge_id": "edge-a"}'
                    deep = await client.post("/v1/plan", content=nested, headers={"Content-Type": "application/json"})
                    figures["nested_100k_status"] = deep.status_code
                started = time.perf_counter()
                outcomes, unanswered = await plan_burst(server.url, token, requests) if requests else ({}, 0)
                figures["burst_s"] = round(time.perf_counter() - started, 1)
            finally:
                stop.set()
                await sampler
            rss_after = server.rss_kb()
    body_statuses = [figures.get(f"{k}_{BODY_MB}mb_status") for k in ("streamed", "declared")] if bodies else []
    server_errors = sum(n for k, n in outcomes.items() if k.startswith("5") and k != "503")
    server_errors += sum(1 for s in [*body_statuses, figures.get("nested_100k_status")] if s and s >= 500)
    figures.update({
        "outcomes": dict(sorted(outcomes.items())), "unanswered": unanswered, "api_5xx": server_errors,
        "undesigned": sum(n for k, n in outcomes.items() if not k.isdigit() or int(k) not in DESIGNED),
        "oversized_read": sum(1 for s in body_statuses if s != 413),
        "rss_before_mb": round(rss_before / 1024, 1), "rss_peak_mb": round(peak[0] / 1024, 1),
        "rss_after_mb": round(rss_after / 1024, 1), "rss_growth_mb": round((peak[0] - rss_before) / 1024, 1),
        "memory_unbounded": int(peak[0] - rss_before > RSS_BOUND_MB * 1024), "errors": unanswered,
    })
    return figures


SCENARIOS = (
    Scenario("api.server", "real server: 50 MB bodies get 413 unread, 100k-deep JSON a 4xx, a burst of plan "
             "requests only 200/422/429/503 with Retry-After, memory bounded",
             lambda d, full, seed: hostile_server(d / "server", 1000 if full else 200),
             {"api_5xx": "api_5xx"}),
    Scenario("api.server.no_body_limit", "negative control: the body limit raised to 1 GiB (the body is read whole)",
             lambda d, full, seed: hostile_server(d / "server-nc", 0, max_body_bytes=1 << 30,
                                                  planner={"lazy_load": True}),
             {}, negative_control=True, loss_figure="oversized_read"),
    Scenario("api.server.unbounded_queue", "negative control: a queue without a useful bound and a 1 s deadline "
             "(overload ends in 504s, not an early 429)",
             lambda d, full, seed: hostile_server(d / "queue-nc", 1000 if full else 200, bodies=False,
                                                  planner={"max_queue": 100_000, "request_timeout_s": 1.0}),
             {}, negative_control=True, loss_figure="api_5xx"),
)
