"""The edge killed -9 while its outbox drains a backlog built during an outage, and restarted, again and again.

A real edge daemon (`procs.EdgeProcess`) builds a backlog in outbox.db while the cloud's broker is down (device
reports from a fake home on the local broker, decisions for utterances); then the cloud's broker and the cloud's twin
sync (cloud/twin_sync.py on its SQLite store, in this process) come up, and the edge is killed with SIGKILL in the
middle of draining, and restarted, again and again. Every decision the edge queued must be in the cloud's audit log
exactly once and every light's last reported value must be in the cloud's twin. The negative control runs the twin
sync with its de-duplication by message id switched off (`TwinSync(dedup=False)`): re-sent messages are applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from bench.reliability.procs import EdgeProcess, Mosquitto, until
from bench.reliability.rig import LIGHTS, FakeHome, cloud_session, cloud_side, edge_settings
from bench.reliability.scenario import Scenario


def outbox_rows(path: Path) -> list[tuple[int, str, bytes]]:
    """(seq, topic, payload) of every message in an outbox file another process owns (read-only)."""
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return [(int(s), str(t), bytes(p)) for s, t, p in conn.execute("SELECT seq, topic, payload FROM outbox")]
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        conn.close()


def outbox_count(path: Path) -> int:
    """Messages waiting in an outbox file another process owns."""
    return table_count(path, "outbox")


def table_count(path: Path, table: str) -> int:
    """Rows of `table` in a SQLite file another process owns; 0 while there is no such file or table."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def audit_ids(db: Path, action: str) -> Counter[str]:
    """How often each edge message id was recorded in the cloud's audit log under `action`."""
    conn = sqlite3.connect(db, timeout=5)
    try:
        rows = conn.execute("SELECT detail FROM audit WHERE action = ?", (action,)).fetchall()
    finally:
        conn.close()
    return Counter(str(json.loads(detail).get("message_id")) for (detail,) in rows)


async def crash_during_drain(work: Path, *, kills: int, reports: int, utterances: int, seed: int = 0,
                             dedup: bool = True) -> dict[str, Any]:
    """Backlog while the cloud's broker is down, then `kills` SIGKILLs of the edge while it drains."""
    rng = random.Random(seed)
    local = Mosquitto(work / "local", persistence=False)
    cloud_broker = Mosquitto(work / "cloud-broker", persistence=True)
    cloud_id = "cloud-drain"
    await cloud_session(work / "cloud.db", cloud_broker, cloud_id, dedup=dedup)
    outbox = work / "edge" / "outbox.db"
    # Small drain batches: a whole backlog in one batch would leave no moment "mid-drain" to kill in; with
    # several batches, kills land both between batches and between a batch's PUBACKs and its commit.
    edge = EdgeProcess(work / "edge", edge_settings(work / "edge", local.port, cloud_broker.port, outbox_batch=4))
    local.start()
    home = await asyncio.to_thread(FakeHome, local.port)
    figures: dict[str, Any] = {"kills": kills, "dedup": dedup, "errors": 0}
    try:
        await asyncio.to_thread(home.announce, LIGHTS)
        edge.start()
        await until(lambda: table_count(work / "edge" / "edge.db", "devices") >= LIGHTS, 30, "discovery")
        ops = [("report", k) for k in range(reports)] + [("say", k) for k in range(utterances)]
        rng.shuffle(ops)
        for op, k in ops:  # reports keep their order per light: versions rise
            if op == "report":
                await asyncio.to_thread(home.report, k % LIGHTS, k // LIGHTS + 1)
            else:
                await asyncio.to_thread(home.say, f"play the saxophone in room {k}")  # nothing local can do it
        decisions: set[str] = set()

        def queued_decisions() -> bool:
            decisions.clear()
            decisions.update(str(json.loads(p)["id"]) for _, _, p in outbox_rows(outbox)
                             if json.loads(p)["type"] == "edge.decision")
            return len(decisions) >= utterances

        await until(queued_decisions, 60, f"{utterances} decisions in the outbox")
        await until(lambda: outbox_count(outbox) >= reports + utterances, 30, "every report in the outbox")
        figures["backlog"] = outbox_count(outbox)
        cloud_broker.start()
        async with cloud_side(work / "cloud.db", cloud_broker.port, dedup=dedup, client_id=cloud_id) as (sync, store):
            mid_drain = 0
            step = figures["backlog"] / (kills + 1)
            for k in range(kills):  # spread over the backlog, each at a random point of its stretch
                target = max(1, int(figures["backlog"] - step * (k + rng.uniform(0.5, 1.0))))
                await until(lambda t=target: outbox_count(outbox) <= t, 60, "the drain to move")
                edge.kill()
                mid_drain += outbox_count(outbox) > 0
                edge.start()
            figures["kills_mid_drain"] = mid_drain
            await until(lambda: outbox_count(outbox) == 0, 60, "the outbox to drain")
            with contextlib.suppress(TimeoutError):  # one still missing then is counted as lost
                await until(lambda: decisions <= set(audit_ids(work / "cloud.db", "edge.decision")), 90,
                            "every decision in the cloud")
            figures["cloud_stats"] = dict(sync.stats)
            await asyncio.sleep(0.5)  # anything still in flight
            recorded = audit_ids(work / "cloud.db", "edge.decision")
            twins = {f"l{i}": await store.twin(f"l{i}") for i in range(LIGHTS)}
            received = sync.received
    finally:
        edge.kill()
        await asyncio.to_thread(home.close)
        cloud_broker.terminate()
        local.terminate()
    wrong_final = 0
    for device, last in home.last.items():
        record = twins.get(device)
        side = record.document.properties["brightness"].reported if record else None
        wrong_final += side is None or side.value != last
    redelivered = sum(n - 1 for n in received.values() if n > 1)
    return figures | {
        "restarts": edge.starts - 1, "queued_decisions": len(decisions),
        "decisions_lost": len(decisions - set(recorded)), "reports_lost": wrong_final,
        "lost": len(decisions - set(recorded)) + wrong_final,
        "redelivered": redelivered, "double_applied": sum(n - 1 for n in recorded.values() if n > 1)}


SCENARIOS = (
    Scenario("offline.crash_during_drain", "the edge is killed -9 while its outbox drains a backlog built during an "
             "outage, and restarted: every message reaches the cloud, none is applied twice",
             lambda d, full, seed: crash_during_drain(d, kills=10 if full else 3, reports=600 if full else 100,
                                                      utterances=1200 if full else 150, seed=seed),
             {"lost": "lost", "double_applied": "double_applied"}),
    Scenario("offline.crash_during_drain.no_dedup", "negative control: the same crashes, the cloud without "
             "de-duplication by message id", lambda d, full, seed: crash_during_drain(
                 d, kills=12, reports=50, utterances=150, seed=seed, dedup=False),
             {}, negative_control=True, loss_figure="double_applied"),
)
