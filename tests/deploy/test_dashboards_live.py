"""Acceptance: a real Prometheus scraping the running demo's edge and cloud answers every dashboard panel's query
with data, and every metric the alert rules name exists.

The parts run as child processes (`autoglm devices simulate`, `autoglm edge run`, `autoglm cloud serve` with the
shipped tiny planner) on a real broker; Prometheus is Debian's package with deploy/prometheus/prometheus.yml
(scrape interval 1 s, targets at the test's ports) and the shipped rules. Traffic is driven twice, with scrapes
between, so every counter and histogram has an increase to rate: local utterances, one the edge hands to the
cloud, a repeated one for the decision cache, a burst to one device (behaviour alert), cloud API calls with a
good and a bad token, and a burst of plans against a queue of one (overload refusals).

The one exempt group is the DCGM GPU metrics (DCGM_FI_*): NVIDIA's exporter makes them, and only with a GPU;
this machine has none. Their queries are checked to name DCGM metrics and nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from edge.say import say
from shared.decision import Decision
from tests.conftest import BrokerInfo
from tests.deploy.deployfiles import alert_rules, exempt, metric_names, panel_queries, substitute
from tests.deploy.livestack import EDGE_ID, Stack, has_data, poll

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CLOUD_ONLY = "throw a party in the kitchen"  # nothing local understands it: the edge asks the cloud
#: One device per round: its second command in a minute is a burst (an alert); the first one runs, so command
#: latency has an observation in each round.
ROUND_DEVICES = ("the kitchen lights", "the desk lamp")
QUESTION = "what is the temperature in the living room"


@pytest.fixture
async def stack(broker: BrokerInfo, tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(tmp_path, broker)
    await s.seed_cloud()
    s.start_parts()
    s.start_prometheus()
    try:
        await asyncio.to_thread(s.wait_ready)
        yield s
    finally:
        await asyncio.to_thread(s.stop)


async def ask(stack: Stack, text: str) -> Decision:
    return await asyncio.to_thread(say, text, edge_id=EDGE_ID, host="127.0.0.1", port=stack.broker.port,
                                   timeout=30)


async def drive(stack: Stack, device: str) -> list[Decision]:
    """One round of traffic through the edge and the cloud API."""
    said = (f"turn on {device}", f"turn off {device}", "turn off the kitchen lights", QUESTION, QUESTION, CLOUD_ONLY)
    decisions = [await ask(stack, text) for text in said]
    good = {"Authorization": f"Bearer {stack.operator}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.api_port}", timeout=60) as client:
        assert (await client.get("/v1/devices", headers=good)).status_code == 200
        assert (await client.get("/v1/edges", headers={"Authorization": "Bearer wrong"})).status_code == 401
        plan = {"text": "turn on the kitchen lights", "edge_id": EDGE_ID, "language": "en"}
        burst = await asyncio.gather(*(client.post("/v1/plan", json=plan, headers=good) for _ in range(4)))
    codes = sorted(r.status_code for r in burst)
    assert 429 in codes or 503 in codes, f"a burst against a queue of one was never refused: {codes}"
    return decisions


async def test_every_panel_query_returns_data_and_every_alert_metric_exists(stack: Stack) -> None:
    first = await drive(stack, ROUND_DEVICES[0])
    assert {d.source.value for d in first if d.source} >= {"template", "cloud"} or any(
        d.source and d.source.value == "degraded" for d in first), [d.source for d in first]
    await asyncio.sleep(3)  # scrapes between the rounds: every series exists before it increases
    await drive(stack, ROUND_DEVICES[1])
    await asyncio.sleep(2)

    targets = stack.api("targets")["activeTargets"]
    assert {t["labels"]["job"] for t in targets} == {"autoglm-edge", "autoglm-cloud"}
    down = [(t["scrapeUrl"], t["lastError"]) for t in targets if t["health"] != "up"]
    assert not down, f"targets not up: {down}"

    queries = panel_queries()
    assert len(queries) >= 30, f"only {len(queries)} panel queries found"
    gpu = [q for q in queries if metric_names(q.expr) and all(exempt(m) for m in metric_names(q.expr))]
    assert gpu, "the cloud dashboard shows GPU metrics from the DCGM exporter"
    checked = [q for q in queries if q not in gpu]

    def empty_panels() -> list[str]:
        return [f"{q.where}: {q.expr}" for q in checked if not has_data(stack.query(substitute(q.expr)))]

    problems = await poll(empty_panels, timeout=15)
    assert not problems, "panel queries without data:\n" + "\n".join(problems)

    named = {m for rule in alert_rules() for m in metric_names(rule["expr"])} | {"up"}
    assert not {m for m in named if exempt(m)}, "alert rules need no GPU metric"

    def missing_metrics() -> list[str]:
        return sorted(m for m in named if not stack.api("series", **{"match[]": m}))

    missing = await poll(missing_metrics, timeout=5)
    assert not missing, f"metrics named in alert rules that Prometheus never scraped: {missing}"

    groups = stack.api("rules")["groups"]
    broken = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r.get("health") == "err"]
    assert not broken and sum(len(g["rules"]) for g in groups) == len(alert_rules()), broken
