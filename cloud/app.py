"""Composition root of the cloud API: builds the services, wires the routers, runs the lifespan."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response

from cloud.api import ROUTERS
from cloud.api.body_limit import BodyLimit
from cloud.api.deps import TRACE_HEADER, Services
from cloud.api.errors import install_error_handlers
from cloud.auth import Authenticator
from cloud.edge_link import DesiredPublisher, EdgeCommandSender, ModelOrderPublisher
from cloud.edge_models import MqttModelOrders
from cloud.fleet import Planner
from cloud.metrics import CloudMetrics
from cloud.plans import ExecutorFactory, PlanService, UnavailablePlanner, Validator
from cloud.settings import CloudSettings
from cloud.sqlite_store import SqliteStore
from cloud.store import Store
from shared.envelope import new_id
from shared.errors import AutoGLMError

log = logging.getLogger(__name__)

#: Opens the configured planner for the app's lifetime (`cloud.planner.backend.open_planner` bound to settings).
PlannerFactory = Callable[[], contextlib.AbstractAsyncContextManager[Planner]]

#: Opens the MQTT side (twin sync, edge commander, executor) for the app's lifetime (`cloud.mqtt_link`).
LinkFactory = Callable[[Store], contextlib.AbstractAsyncContextManager[Any]]

#: Trace ids a client may choose (others are replaced by a fresh one, never echoed).
TRACE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

DESCRIPTION = """Operators' API of AutoGLM Hybrid: fleet (edges, devices, twins), natural-language commands,
planner task graphs and the audit log. Authenticate with `Authorization: Bearer agh_<id>_<secret>`
(`autoglm cloud token create --role ROLE`). Errors are `{"error": {"code", "message"}}`."""


async def _call_optional(obj: Any, name: str) -> None:
    method: Callable[[], Awaitable[Any]] | None = getattr(obj, name, None)
    if callable(method):
        await method()


def create_app(settings: CloudSettings, *, store: Store | None = None, planner: Planner | None = None,
               commander: EdgeCommandSender | None = None, executor_factory: ExecutorFactory | None = None,
               desired_publisher: DesiredPublisher | None = None, metrics: CloudMetrics | None = None,
               validator: Validator | None = None, planner_factory: PlannerFactory | None = None,
               link_factory: LinkFactory | None = None, model_orders: ModelOrderPublisher | None = None) -> FastAPI:
    """The cloud API. The app opens and closes `store`; `planner.start()` and `aclose()` (or `close()`) run if present.

    `planner_factory()` (used when `planner` is None) is entered as an async context for the app's lifetime,
    e.g. `lambda: open_planner(settings.planner, registry=metrics.registry)`; if it fails, the planner reads
    "unavailable". `link_factory(store)` (e.g. `cloud.mqtt_link.open_mqtt_link` bound to settings) yields an object
    with `commander`, `sync` (desired publisher) and `executor()`; when it fails the API runs without them.
    Without a planner, `POST /v1/plan` answers 503; without an executor factory, runs answer 503; without a
    commander, commands answer 503; without `model_orders` (nor a link), model roll-out orders answer 503.
    `validator` defaults to `cloud.planner.validate.validate_plan`.
    """
    metrics = metrics or CloudMetrics()
    store = store if store is not None else SqliteStore(settings.db_path)
    plans = PlanService(store, metrics, planner=planner, executor_factory=executor_factory, validator=validator)
    services = Services(settings=settings, store=store, auth=Authenticator(store), plans=plans, metrics=metrics,
                        commander=commander, desired_publisher=desired_publisher, model_orders=model_orders)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        stack = contextlib.AsyncExitStack()
        if planner is None and planner_factory is not None:
            try:
                plans.planner = await stack.enter_async_context(planner_factory())
            except AutoGLMError as exc:  # the fleet API still works; plans answer 503 with the reason
                log.error("planner failed to open", extra={"error": str(exc)})
                plans.planner = UnavailablePlanner(str(exc))
        if link_factory is not None:
            try:
                link = await stack.enter_async_context(link_factory(store))
            except AutoGLMError as exc:  # the fleet API still works; commands and runs answer 503
                log.error("MQTT link failed to open; commands and plan runs are unavailable",
                          extra={"error": str(exc)})
            else:
                services.commander = services.commander or link.commander
                services.desired_publisher = services.desired_publisher or link.sync
                services.model_orders = services.model_orders or MqttModelOrders(link.bus)
                plans.executor_factory = plans.executor_factory or link.executor
        if planner is not None:
            try:  # the planner honours lazy loading itself: start() then only starts its loop
                await _call_optional(planner, "start")
            except AutoGLMError as exc:  # the fleet API still works; /readyz shows the planner's state
                log.error("planner failed to start", extra={"error": str(exc)})
        log.info("cloud API ready", extra={"db": str(settings.db_path), "lazy_load": settings.planner.lazy_load})
        try:
            yield
        finally:
            await plans.shutdown()
            with contextlib.suppress(AutoGLMError):
                await stack.aclose()
            if planner is not None:
                with contextlib.suppress(AutoGLMError):
                    await _call_optional(planner, "aclose" if hasattr(planner, "aclose") else "close")
            await store.close()

    app = FastAPI(title="AutoGLM Hybrid cloud", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url="/docs", redoc_url=None)
    app.state.services = services
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    for router in ROUTERS:
        app.include_router(router)

    @app.middleware("http")
    async def trace_and_measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        supplied = request.headers.get(TRACE_HEADER)
        trace_id = supplied if supplied and TRACE_ID.match(supplied) else new_id()
        request.state.trace_id = trace_id
        started = time.perf_counter()
        response = await call_next(request)
        response.headers[TRACE_HEADER] = trace_id
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.request_latency.labels(route).observe(time.perf_counter() - started)
        return response

    return app
