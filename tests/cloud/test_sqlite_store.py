"""SqliteStore on real files: edges, devices, twin versions and conflicts, plans, audit, tokens, persistence."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from cloud.fleet import Device
from cloud.sqlite_store import SqliteStore
from cloud.store import AuditQuery, PlanRecord, TokenRecord
from shared.envelope import utcnow
from shared.errors import ConflictError, NotFoundError, StorageError
from shared.plan import Plan, PlanStatus, PlanStep
from shared.twin import TwinValue
from tests.cloud.conftest import DEVICES, EDGE_A, SITE_A, SITE_B, seed


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "cloud.db")
    await s.open()
    await seed(s)
    yield s
    await s.close()


async def test_database_runs_in_wal_mode(tmp_path: Path, store: SqliteStore) -> None:
    mode = sqlite3.connect(tmp_path / "cloud.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert await store.ping()


async def test_edges_filter_by_site_and_keep_status_on_reregister(store: SqliteStore) -> None:
    assert [e.edge_id for e in await store.list_edges(sites=frozenset({SITE_A}))] == [EDGE_A]
    assert len(await store.list_edges()) == 2
    now = utcnow()
    await store.set_edge_status(EDGE_A, True, now)
    again = await store.upsert_edge(EDGE_A, site=SITE_A)
    assert again.online and again.last_seen == now and again.name == "Home A"
    older = await store.set_edge_status(EDGE_A, False, now - timedelta(seconds=5))
    assert older.online, "an older status message must not win"
    with pytest.raises(NotFoundError):
        await store.set_edge_status("nope", True, now)


async def test_devices_filter_and_state_comes_from_reported_twin(store: SqliteStore) -> None:
    assert [d.device_id for d in await store.list_devices(sites=frozenset({SITE_B}))] == ["light.b_bedroom"]
    assert [d.device_id for d in await store.list_devices(edge_id=EDGE_A, domain="lock")] == ["lock.front_door"]
    assert [d.device_id for d in await store.list_devices(area="Kitchen")] == ["light.kitchen"]
    await store.merge_reported("light.kitchen", {"state": TwinValue(value="ON", version=3)})
    device = await store.get_device("light.kitchen")
    assert device is not None and device.state == {"state": "ON"}
    await store.remove_device("light.kitchen")
    assert await store.get_device("light.kitchen") is None
    assert await store.twin("light.kitchen") is None


async def test_merge_reported_drops_stale_versions(store: SqliteStore) -> None:
    first = await store.merge_reported("light.kitchen", {"state": TwinValue(value="ON", version=2),
                                                         "brightness": TwinValue(value=10, version=1)})
    assert sorted(first.applied) == ["brightness", "state"] and first.stale == []
    second = await store.merge_reported("light.kitchen", {"state": TwinValue(value="OFF", version=2),
                                                          "brightness": TwinValue(value=50, version=5)})
    assert second.applied == ["brightness"] and second.stale == ["state"]
    twin = await store.twin("light.kitchen")
    assert twin is not None
    reported = twin.document.reported_values()
    assert reported == {"state": "ON", "brightness": 50}


async def test_set_desired_is_optimistic(store: SqliteStore) -> None:
    assert await store.set_desired("light.kitchen", {"state": "ON"}, expected_version=0) == 1
    assert await store.set_desired("light.kitchen", {"brightness": 30}, expected_version=None) == 2
    with pytest.raises(ConflictError, match="version 2, not 1"):
        await store.set_desired("light.kitchen", {"state": "OFF"}, expected_version=1)
    twin = await store.twin("light.kitchen")
    assert twin is not None and twin.version == 2
    desired = {k: (p.desired.value, p.desired.version) for k, p in twin.document.properties.items() if p.desired}
    assert desired == {"state": ("ON", 1), "brightness": (30, 2)}, "a refused update must change nothing"
    with pytest.raises(NotFoundError):
        await store.set_desired("no.such", {"state": "ON"}, expected_version=None)


async def test_plans_round_trip_and_update(store: SqliteStore) -> None:
    plan = Plan(steps=[PlanStep(id="s1", tool="light.turn_off", args={"device_id": "light.kitchen"})])
    record = PlanRecord(plan_id="p1", edge_id=EDGE_A, site=SITE_A, text="lights off", language="en", plan=plan,
                        status=PlanStatus.PROPOSED, trace_id="t1", created_by="token:x", created_ts=utcnow())
    await store.add_plan(record)
    loaded = await store.get_plan("p1")
    assert loaded is not None and loaded.plan == plan and loaded.status is PlanStatus.PROPOSED
    done = await store.update_plan("p1", status=PlanStatus.SUCCEEDED, result=[{"id": "s1", "status": "ok"}])
    assert done.status is PlanStatus.SUCCEEDED and done.result == [{"id": "s1", "status": "ok"}]
    assert [p.plan_id for p in await store.list_plans(sites=frozenset({SITE_B}))] == []
    assert [p.plan_id for p in await store.list_plans(status=PlanStatus.SUCCEEDED)] == ["p1"]
    with pytest.raises(NotFoundError):
        await store.update_plan("nope", status=PlanStatus.FAILED)


async def test_audit_filters_and_site_scope(store: SqliteStore) -> None:
    await store.record(actor="a", action="x.one", target="t", trace_id="tr1", detail={"site": SITE_A})
    await store.record(actor="b", action="x.two", target="t", trace_id="tr2", detail={"site": SITE_B})
    await store.record(actor="a", action="token.create", target="t", trace_id="tr3")
    assert [e.trace_id for e in await store.list_audit(AuditQuery())] == ["tr3", "tr2", "tr1"]
    assert [e.trace_id for e in await store.list_audit(AuditQuery(actor="a"))] == ["tr3", "tr1"]
    assert [e.trace_id for e in await store.list_audit(AuditQuery(sites=frozenset({SITE_A})))] == ["tr1"]
    assert [e.action for e in await store.list_audit(AuditQuery(trace_id="tr2"))] == ["x.two"]
    assert await store.list_audit(AuditQuery(since=utcnow() + timedelta(minutes=1))) == []


async def test_tokens_store_hash_and_revoke_is_idempotent(store: SqliteStore) -> None:
    now = utcnow()
    await store.add_token(TokenRecord("t1", "h" * 64, "viewer", now, frozenset({SITE_A}), None, "ci"))
    token = await store.get_token("t1")
    assert token is not None and token.sites == frozenset({SITE_A}) and token.revoked_ts is None
    first = await store.revoke_token("t1", now)
    second = await store.revoke_token("t1", now + timedelta(hours=1))
    assert first.revoked_ts == second.revoked_ts == now
    with pytest.raises(NotFoundError):
        await store.revoke_token("nope", now)


async def test_everything_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    store = SqliteStore(path)
    await store.open()
    await seed(store)
    await store.set_desired("light.kitchen", {"state": "ON"}, expected_version=None)
    await store.close()
    again = SqliteStore(path)
    await again.open()
    assert len(await again.list_devices()) == len(DEVICES)
    twin = await again.twin("light.kitchen")
    assert twin is not None and twin.version == 1
    await again.close()


async def test_foreign_file_is_refused_not_reset(tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="cannot open cloud database"):
        await SqliteStore(path).open()
    assert path.read_bytes().startswith(b"this is not a database")


async def test_device_upsert_keeps_desired_version(store: SqliteStore) -> None:
    await store.set_desired("light.kitchen", {"state": "ON"}, expected_version=None)
    await store.upsert_device(Device("light.kitchen", EDGE_A, SITE_A, "light", "Renamed", "Kitchen"))
    twin = await store.twin("light.kitchen")
    device = await store.get_device("light.kitchen")
    assert twin is not None and twin.version == 1 and device is not None and device.name == "Renamed"
