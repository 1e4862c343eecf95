"""Dependencies every router uses: the app's services, the trace id, and `require(permission)`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cloud.auth import Authenticator, Permission, Principal
from cloud.edge_link import DesiredPublisher, EdgeCommandSender, ModelOrderPublisher
from cloud.metrics import CloudMetrics
from cloud.plans import PlanService
from cloud.settings import CloudSettings
from cloud.store import Store
from shared.envelope import new_id

TRACE_HEADER = "X-Trace-ID"

_bearer = HTTPBearer(auto_error=False, scheme_name="ApiToken",
                     description="An API token `agh_<id>_<secret>` from `autoglm cloud token create`.")


@dataclass
class Services:
    """What the routers reach through `request.app.state.services`; built by the composition root."""

    settings: CloudSettings
    store: Store
    auth: Authenticator
    plans: PlanService
    metrics: CloudMetrics
    commander: EdgeCommandSender | None = None
    desired_publisher: DesiredPublisher | None = None
    model_orders: ModelOrderPublisher | None = None


def get_services(request: Request) -> Services:
    """The app's services."""
    services: Services = request.app.state.services
    return services


def get_trace_id(request: Request, response: Response) -> str:
    """The request's trace id (from `X-Trace-ID`, else new); the middleware echoes it."""
    trace_id = getattr(request.state, "trace_id", None) or new_id()
    response.headers[TRACE_HEADER] = trace_id
    return str(trace_id)


ServicesDep = Annotated[Services, Depends(get_services)]
TraceId = Annotated[str, Depends(get_trace_id)]


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the bearer token and checks that its role grants `permission`."""

    async def dependency(services: ServicesDep,
                         credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
        principal = await services.auth.authenticate(credentials.credentials if credentials else None)
        principal.require(permission)
        return principal

    dependency.__name__ = f"require_{permission.value.replace(':', '_')}"
    dependency.permission = permission  # type: ignore[attr-defined]  # read by the RBAC matrix test
    return dependency

