"""The cloud API under schemathesis fuzzing, in-process: no 5xx, answers match the OpenAPI document.

schemathesis generates requests for every operation of the app's own OpenAPI document (valid and invalid data, half
of them on seeded ids so they get past the 404s), authenticated as an admin. A 5xx other than a documented 503 with
Retry-After counts in `api_5xx`; responses that contradict the document (schema, status, content type) count in
`schema_violations` and `undocumented_statuses`. Negative control: the API's error handlers off.
"""

from __future__ import annotations

import asyncio
import collections
import re
from pathlib import Path
from typing import Any

from bench.reliability.api_matrix import (
    DEVICE_A,
    EDGE_A,
    MODEL_VERSION,
    seed_edge_model,
)
from bench.reliability.rig_api import add_plan, add_token, bearer, seed
from bench.reliability.scenario import Scenario
from cloud.app import create_app
from cloud.auth import parse_token
from cloud.planner.backend import open_planner
from cloud.settings import CloudSettings, PlannerSettings
from cloud.sqlite_store import SqliteStore
from shared.errors import AutoGLMError

#: The one 5xx the API answers by design: a dependency down (documented, with Retry-After).
DESIGNED_5XX = frozenset({503})



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


SCENARIOS = (
    Scenario("api.fuzz", "schemathesis over the OpenAPI document in-process: no 5xx, answers match the document",
             lambda d, full, seed: fuzz(d / "fuzz.db", 2000 if full else 250, seed), {"api_5xx": "api_5xx"}),
    Scenario("api.fuzz.no_error_handlers", "negative control: the same fuzzing with the API's error handlers off",
             lambda d, full, seed: fuzz(d / "fuzz-nc.db", 100 if full else 40, seed, error_handlers=False),
             {}, negative_control=True, loss_figure="api_5xx"),
)
