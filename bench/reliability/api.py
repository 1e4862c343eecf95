"""The cloud API under fuzzing and token abuse (in-process), and under hostile HTTP and load (a real server).

In-process scenarios run the real app (`cloud.app.create_app`) on a real SQLite file seeded with two sites:
- `fuzz`: schemathesis generates requests for every operation of the app's own OpenAPI document (valid and
  invalid data, half of them on seeded ids so they get past the 404s), authenticated as an admin. A 5xx other than
  a documented 503 with Retry-After counts in `api_5xx`; responses that contradict the document (schema, status,
  content type) count in `schema_violations` and `undocumented_statuses`. Negative control: the API's error
  handlers off.
- `rbac_matrix`: every role x every route of `api_matrix.MATRIX`, and site-B tokens on every site-A resource and
  list, against a real broker (commands and plan runs are accepted) and the shipped tiny planner. Negative control:
  an authenticator that forgets the token's sites.
- `bad_tokens`: missing, malformed, wrong-secret, forged, expired, revoked and other-site tokens on every protected
  route; any 2xx is an unauthorized call. Negative control: an authenticator that only looks the token id up.
The real-server scenarios are in `bench.reliability.api_server`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from bench.reliability import api_server
from bench.reliability.api_matrix import (
    DEVICE_A,
    EDGE_A,
    EDGE_B,
    MATRIX,
    MODEL_VERSION,
    ON_SITE_A_RESOURCE,
    PROTECTED,
    ROLES,
    SITE_A,
    SITE_B,
    Endpoint,
    other_site_expected,
    seed_edge_model,
)
from bench.reliability.procs import Mosquitto
from bench.reliability.scenario import Scenario
from cloud.app import create_app
from cloud.auth import Authenticator, InvalidTokenError, Principal, Role, issue_token, parse_token
from cloud.bus import BusSettings
from cloud.fleet import Device
from cloud.mqtt_link import open_mqtt_link
from cloud.planner.backend import open_planner
from cloud.settings import CloudSettings, PlannerSettings
from cloud.sqlite_store import SqliteStore
from cloud.store import PlanRecord
from shared.envelope import new_id, utcnow
from shared.errors import AutoGLMError
from shared.plan import Plan, PlanStatus, PlanStep

DEVICES = (
    Device(DEVICE_A, EDGE_A, SITE_A, "light", "Kitchen Light", "Kitchen"),
    Device("lock.front_door", EDGE_A, SITE_A, "lock", "Front Door", "Hall"),
    Device("light.b_bedroom", EDGE_B, SITE_B, "light", "Bedroom Light", "Bedroom"),
)
#: The one 5xx the API answers by design: a dependency down (documented, with Retry-After).
DESIGNED_5XX = frozenset({503})


async def seed(store: SqliteStore) -> None:
    """Two sites, an edge and devices on each."""
    await store.upsert_edge(EDGE_A, site=SITE_A, name="Home A")
    await store.upsert_edge(EDGE_B, site=SITE_B, name="Home B")
    for device in DEVICES:
        await store.upsert_device(device)


async def add_plan(store: SqliteStore, edge_id: str = EDGE_A, site: str = SITE_A) -> str:
    """A stored, proposed plan (turn the kitchen light off) that can be read, run and cancelled."""
    now = utcnow()
    plan = Plan(steps=[PlanStep(id="s1", tool="light.turn_off", args={"device_id": DEVICE_A})])
    record = PlanRecord(plan_id=new_id(), edge_id=edge_id, site=site, text="lights off", language="en", plan=plan,
                        status=PlanStatus.PROPOSED, trace_id=new_id(), created_by="seed", created_ts=now,
                        updated_ts=now)
    await store.add_plan(record)
    return record.plan_id


async def add_token(store: SqliteStore, role: str, *, sites: set[str] | None = None, edge_id: str | None = None,
                    ttl: timedelta | None = None, revoked: bool = False) -> str:
    """A stored token's bearer secret."""
    issued = issue_token(role, sites=frozenset(sites) if sites is not None else None, edge_id=edge_id, ttl=ttl)
    await store.add_token(issued.record)
    if revoked:
        await store.revoke_token(issued.record.token_id, utcnow())
    return issued.secret


def bearer(secret: str) -> dict[str, str]:
    """Authorization header of a token secret."""
    return {"Authorization": f"Bearer {secret}"}


# ---- fuzzing (schemathesis, in-process) ----

def run_fuzz(db: Path, cases: int, seed_: int, *, error_handlers: bool = True) -> dict[str, Any]:
    """`cases` schemathesis cases over every operation; blocking (schemathesis drives the app on its own loop)."""
    import hypothesis
    import schemathesis
    from hypothesis import strategies as st
    from schemathesis import GenerationMode
    from schemathesis.core.failures import FailureGroup
    from schemathesis.python.asgi import shutdown_lifespans
    from schemathesis.specs.openapi import checks

    settings = CloudSettings(db_path=db, mqtt_enabled=False, planner=PlannerSettings(lazy_load=True, device="cpu"))

    async def prepare() -> dict[str, str]:
        store = SqliteStore(db)
        await store.open()
        try:
            await seed(store)
            seed_edge_model(settings.edge_models_root)
            return {"admin": await add_token(store, "admin"), "edge_id": EDGE_A, "device_id": DEVICE_A,
                    "plan_id": await add_plan(store), "token_id": parse_token(await add_token(store, "viewer"))[0],
                    "version": MODEL_VERSION, "name": "manifest.json"}
        finally:
            await store.close()

    known = asyncio.run(prepare())
    app = create_app(settings, planner_factory=lambda: open_planner(settings.planner))
    if not error_handlers:  # the negative control: project errors escape as unhandled exceptions
        app.exception_handlers.pop(AutoGLMError)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    strategies = []
    for op in operations:
        strategies += [op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)]
        params = {name: known[name] for name in re.findall(r"{(\w+)}", op.path)}
        if params:  # past the 404 of a random id, into the handler
            strategies += [op.as_strategy(GenerationMode.POSITIVE, path_parameters=params),
                           op.as_strategy(GenerationMode.NEGATIVE, path_parameters=params)]
    statuses: collections.Counter[int] = collections.Counter()
    failures: collections.Counter[str] = collections.Counter()
    examples: dict[str, str] = {}
    server_errors = unhandled = 0

    @hypothesis.seed(seed_)
    @hypothesis.settings(max_examples=cases, database=None, deadline=None, phases=[hypothesis.Phase.generate],
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(case=st.one_of(strategies))
    def fuzz_one(case: Any) -> None:
        nonlocal server_errors, unhandled
        case.headers = {**(case.headers or {}), **bearer(known["admin"])}  # the header hook: a valid admin token
        try:
            response = case.call()
        except Exception as exc:  # the app raised past its handlers: the server answered 500
            unhandled += 1
            server_errors += 1
            examples.setdefault("unhandled", f"{case.operation.label}: {type(exc).__name__}: {exc}"[:300])
            return
        status = response.status_code
        statuses[status] += 1
        documented = str(status) in case.operation.responses.status_codes
        if status >= 500 and not (status in DESIGNED_5XX and documented and "retry-after" in response.headers):
            server_errors += 1
            examples.setdefault(f"{status}", f"{case.operation.label}: {response.text[:200]}")
        try:
            case.validate_response(response, checks=[checks.response_schema_conformance,
                                                     checks.status_code_conformance,
                                                     checks.content_type_conformance])
        except FailureGroup as group:
            for failure in group.exceptions:
                kind = "undocumented_status" if "status code" in failure.title.lower() else "schema_violation"
                failures[kind] += 1
                examples.setdefault(kind, f"{case.operation.label} -> {status}: {failure.title}")

    try:
        fuzz_one()
    finally:
        shutdown_lifespans()
    return {"operations": len(operations), "cases": sum(statuses.values()) + unhandled,
            "error_handlers": error_handlers, "api_5xx": server_errors, "unhandled": unhandled,
            "schema_violations": failures["schema_violation"], "undocumented_statuses": failures["undocumented_status"],
            "statuses": {str(k): v for k, v in sorted(statuses.items())}, "examples": examples}


async def fuzz(db: Path, cases: int, seed_: int, *, error_handlers: bool = True) -> dict[str, Any]:
    """`run_fuzz` on a worker thread (hypothesis and schemathesis' ASGI client are synchronous)."""
    return await asyncio.to_thread(run_fuzz, db, cases, seed_, error_handlers=error_handlers)


# ---- RBAC and tokens (httpx in-process, real broker, real planner) ----

class SiteBlindAuthenticator(Authenticator):
    """Negative control: checks the token but forgets its sites (every token sees every site)."""

    async def authenticate(self, token: str | None, *, now: datetime | None = None) -> Principal:
        principal = await super().authenticate(token, now=now)
        return Principal(principal.token_id, principal.role, None, principal.edge_id)


class LaxAuthenticator(Authenticator):
    """Negative control: finds the token by id and believes it (no secret, expiry or revocation check)."""

    def __init__(self, store: SqliteStore) -> None:
        super().__init__(store)
        self._records = store

    async def authenticate(self, token: str | None, *, now: datetime | None = None) -> Principal:
        token_id, _secret = parse_token(token or "")
        record = await self._records.get_token(token_id)
        if record is None:
            raise InvalidTokenError("unknown token")
        return Principal(token_id, Role(record.role), record.sites, record.edge_id)


@dataclass
class ApiUnderTest:
    """The real app on a real SQLite file, its store, and an in-process client."""

    app: FastAPI
    store: SqliteStore
    client: httpx.AsyncClient

    async def ids(self) -> dict[str, str]:
        """Fresh path ids: a new proposed plan and a new victim token, so runs, cancels and revokes can repeat."""
        victim = parse_token(await add_token(self.store, "viewer"))[0]
        return {"edge_id": EDGE_A, "device_id": DEVICE_A, "plan_id": await add_plan(self.store), "token_id": victim}

    async def call(self, endpoint: Endpoint, headers: dict[str, str]) -> int:
        """Status of one request with fresh ids."""
        response = await self.client.request(endpoint.method, endpoint.url(await self.ids()), json=endpoint.body,
                                             headers=headers)
        return response.status_code


@contextlib.asynccontextmanager
async def api_under_test(workdir: Path, *, planner: bool = True,
                         authenticator: type[Authenticator] | None = None) -> AsyncIterator[ApiUnderTest]:
    """The app with a real Mosquitto behind its MQTT link and (if `planner`) the shipped tiny planner, lazily."""
    with Mosquitto(workdir / "broker", persistence=False) as broker:  # makes `workdir` too
        bus = BusSettings(port=broker.port, client_id=f"cloud-{new_id()[:8]}")
        settings = CloudSettings(db_path=workdir / "cloud.db", mqtt=bus, command_timeout_s=2.0,
                                 planner=PlannerSettings(lazy_load=True, device="cpu"))
        store = SqliteStore(settings.db_path)
        app = create_app(settings, store=store,
                         planner_factory=(lambda: open_planner(settings.planner)) if planner else None,
                         link_factory=lambda s: open_mqtt_link(bus, s, step_timeout_s=2.0))
        if authenticator is not None:
            app.state.services.auth = authenticator(store)
        async with app.router.lifespan_context(app):
            await seed(store)
            await add_plan(store, EDGE_B, SITE_B)
            seed_edge_model(settings.edge_models_root)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://cloud.test", timeout=60) as client:
                yield ApiUnderTest(app, store, client)


async def rbac_matrix(workdir: Path, *, site_blind: bool = False) -> dict[str, Any]:
    """Every role on every route, then site-B tokens on site-A resources and lists; count status mismatches."""
    mismatches: list[str] = []
    calls = 0
    async with api_under_test(workdir, planner=not site_blind,
                              authenticator=SiteBlindAuthenticator if site_blind else None) as api:
        if not site_blind:  # the negative control only needs the site dimension
            for endpoint in MATRIX:
                for role in ROLES:
                    secret = await add_token(api.store, role, edge_id=EDGE_A if role == "edge" else None)
                    got, calls = await api.call(endpoint, bearer(secret)), calls + 1
                    if got != endpoint.expected[role]:
                        mismatches.append(f"{role} {endpoint.method} {endpoint.path}: {got} != "
                                          f"{endpoint.expected[role]}")
        for endpoint in ON_SITE_A_RESOURCE:
            for role, headers in (("admin", bearer(await add_token(api.store, "admin", sites={SITE_B}))),
                                  ("edge", bearer(await add_token(api.store, "edge", edge_id=EDGE_B)))):
                got, calls = await api.call(endpoint, headers), calls + 1
                if got != other_site_expected(endpoint, role):
                    mismatches.append(f"site-B {role} {endpoint.method} {endpoint.path}: {got} != "
                                      f"{other_site_expected(endpoint, role)}")
        other = bearer(await add_token(api.store, "admin", sites={SITE_B}))
        for path in ("/v1/edges", "/v1/devices", "/v1/plans"):
            listed, calls = (await api.client.get(path, headers=other)).json(), calls + 1
            leaked = [item for item in listed if item.get("site") != SITE_B]
            if leaked or not listed:
                mismatches.append(f"site-B admin GET {path}: {len(leaked)} of {len(listed)} items of other sites")
    return {"calls": calls, "routes": len(MATRIX), "roles": len(ROLES), "site_blind": site_blind,
            "rbac_mismatches": len(mismatches), "examples": mismatches[:5]}


async def bad_tokens(workdir: Path, *, lax: bool = False) -> dict[str, Any]:
    """Every kind of bad token on every protected route: none may be accepted, each must be a 401 (or 404 for
    other-site tokens on a site-A resource)."""
    accepted: list[str] = []
    wrong_status: list[str] = []
    calls = 0
    async with api_under_test(workdir, planner=False, authenticator=LaxAuthenticator if lax else None) as api:
        admin = await add_token(api.store, "admin")
        token_id, secret = parse_token(admin)
        other_id = parse_token(await add_token(api.store, "viewer"))[0]
        cases = {
            "missing": {}, "not bearer": {"Authorization": f"Basic {admin}"},
            "malformed": bearer("nonsense"), "empty secret": bearer(f"agh_{token_id}_"),
            "wrong secret": bearer(f"agh_{token_id}_{secret[:-4]}abcd"),
            "forged id": bearer(f"agh_{other_id}_{secret}"),  # a viewer's id with the admin's secret
            "expired": bearer(await add_token(api.store, "admin", ttl=timedelta(seconds=-1))),
            "revoked": bearer(await add_token(api.store, "admin", revoked=True)),
        }
        for endpoint in PROTECTED:
            for name, headers in cases.items():
                got, calls = await api.call(endpoint, headers), calls + 1
                if got < 400:
                    accepted.append(f"{name} {endpoint.method} {endpoint.path}: {got}")
                elif got != 401:
                    wrong_status.append(f"{name} {endpoint.method} {endpoint.path}: {got}")
        for endpoint in ON_SITE_A_RESOURCE:  # valid tokens of the other site
            for name, headers in (("other-site admin", bearer(await add_token(api.store, "admin", sites={SITE_B}))),
                                  ("other edge", bearer(await add_token(api.store, "edge", edge_id=EDGE_B)))):
                got, calls = await api.call(endpoint, headers), calls + 1
                if got < 400:
                    accepted.append(f"{name} {endpoint.method} {endpoint.path}: {got}")
    return {"calls": calls, "token_kinds": len(cases) + 2, "lax_verifier": lax, "unauthorized_calls": len(accepted),
            "wrong_status": len(wrong_status), "examples": (accepted + wrong_status)[:5]}


SCENARIOS = (
    Scenario("api.fuzz", "schemathesis over the OpenAPI document in-process: no 5xx, answers match the document",
             lambda d, full, seed: fuzz(d / "fuzz.db", 2000 if full else 250, seed), {"api_5xx": "api_5xx"}),
    Scenario("api.fuzz.no_error_handlers", "negative control: the same fuzzing with the API's error handlers off",
             lambda d, full, seed: fuzz(d / "fuzz-nc.db", 100 if full else 40, seed, error_handlers=False),
             {}, negative_control=True, loss_figure="api_5xx"),
    Scenario("api.rbac_matrix", "role x route x method x site: every status as the matrix intends",
             lambda d, full, seed: rbac_matrix(d / "rbac"), {"rbac_mismatches": "rbac_mismatches"}),
    Scenario("api.rbac_matrix.site_blind", "negative control: an authenticator that forgets the token's sites",
             lambda d, full, seed: rbac_matrix(d / "rbac-nc", site_blind=True), {}, negative_control=True,
             loss_figure="rbac_mismatches"),
    Scenario("api.bad_tokens", "expired, revoked, wrong-secret, forged and other-site tokens: none accepted",
             lambda d, full, seed: bad_tokens(d / "tokens"), {"unauthorized_calls": "unauthorized_calls"}),
    Scenario("api.bad_tokens.lax_verifier", "negative control: a verifier that skips secret, expiry and revocation",
             lambda d, full, seed: bad_tokens(d / "tokens-nc", lax=True), {}, negative_control=True,
             loss_figure="unauthorized_calls"),
    *api_server.SERVER_SCENARIOS,
)
