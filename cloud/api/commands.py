"""Natural-language commands to an edge ("turn off the kitchen lights"), delivered over the edge link.

Site rule as in `cloud.api.edges`: an edge the caller cannot see is 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field

from cloud.api.deps import ServicesDep, TraceId, require
from cloud.api.edges import visible_edge
from cloud.api.errors import PROTECTED_ERRORS, error_responses
from cloud.auth import Permission, Principal
from shared.envelope import new_id
from shared.errors import AutoGLMError, TransportError

router = APIRouter(prefix="/v1/edges", tags=["commands"], responses=PROTECTED_ERRORS)


class CommandCreate(BaseModel):
    """What to say to the edge."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1000)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]{2})?$", description="detected if omitted")


class CommandAccepted(BaseModel):
    """A command handed to the edge link; `reply` is the edge's decision when the link waits for it."""

    command_id: str
    edge_id: str
    trace_id: str
    status: str
    reply: dict[str, Any] | None = None


@router.post("/{edge_id}/commands", status_code=status.HTTP_202_ACCEPTED, summary="Send a command to an edge",
             responses=error_responses(404, 409, 503, 504))
async def send_command(edge_id: str, body: CommandCreate,
                       principal: Annotated[Principal, Depends(require(Permission.COMMANDS_SEND))],
                       services: ServicesDep, trace_id: TraceId) -> CommandAccepted:
    """Deliver the text to the edge's local pipeline, under the request's trace id."""
    edge = await visible_edge(services, principal, edge_id)
    command_id = new_id()
    detail = {"site": edge.site, "text": body.text, "language": body.language, "command_id": command_id}
    if services.commander is None:
        services.metrics.commands.labels("unavailable").inc()
        raise TransportError("no edge link is configured on this server: commands cannot reach edges")
    try:
        reply = await services.commander.send_command(edge_id, body.text, language=body.language,
                                                      trace_id=trace_id, command_id=command_id)
    except AutoGLMError as exc:
        services.metrics.commands.labels(exc.code).inc()
        await services.store.record(actor=principal.subject, action="command.failed", target=f"edge:{edge_id}",
                                    trace_id=trace_id, detail={**detail, "error": str(exc)})
        raise
    services.metrics.commands.labels("sent").inc()
    await services.store.record(actor=principal.subject, action="command.send", target=f"edge:{edge_id}",
                                trace_id=trace_id, detail=detail)
    return CommandAccepted(command_id=command_id, edge_id=edge_id, trace_id=trace_id,
                           status="answered" if reply is not None else "sent", reply=reply)
