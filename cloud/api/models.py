"""Edge intent model roll-out: the versions on offer, their files (which edges download), and orders to an edge.

An order is published retained on `autoglm/v1/edges/<id>/models` (shared.rollout); the edge answers with a
`model.activated` or `model.rejected` event. Site rule as in `cloud.api.edges`: an edge the caller cannot see is 404.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Self

from fastapi import APIRouter, Depends, Path, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.api.deps import ServicesDep, TraceId, require
from cloud.api.edges import visible_edge
from cloud.api.errors import PROTECTED_ERRORS, error_responses
from cloud.auth import Permission, Principal
from cloud.edge_models import EdgeModelCatalog
from shared.envelope import Envelope
from shared.errors import AutoGLMError, TransportError
from shared.rollout import NAME_PATTERN, ORDER_TYPE, ModelAction, ModelFile, ModelOrder, files_path
from shared.topics import EdgeChannel, edge_topic

router = APIRouter(tags=["edge models"], responses=PROTECTED_ERRORS)

VersionParam = Annotated[str, Path(pattern=NAME_PATTERN, description="a version directory's name")]
FileParam = Annotated[str, Path(pattern=NAME_PATTERN, description="a file the version lists (no paths)")]


class EdgeModelPublic(BaseModel):
    """A version on offer: its manifest and the files an edge fetches."""

    version: str
    manifest: dict[str, Any]
    files: list[ModelFile]
    url: str = Field(description="HTTP path of the files: `<url>/<name>`")


class ModelOrderCreate(BaseModel):
    """What the edge should do: activate a version, or roll back to its previous one."""

    model_config = ConfigDict(extra="forbid")

    action: ModelAction
    version: str | None = Field(default=None, pattern=NAME_PATTERN, description="activate: required; rollback: "
                                "optional, the version the edge must be returning to (else it rejects)")

    @model_validator(mode="after")
    def _version_for_activate(self) -> Self:
        if self.action is ModelAction.ACTIVATE and self.version is None:
            raise ValueError("activate needs a version")
        return self


class ModelOrderAccepted(BaseModel):
    """The order as published; the edge's answer is its `model.activated` / `model.rejected` event."""

    order_id: str
    edge_id: str
    trace_id: str
    topic: str
    order: ModelOrder


def _catalog(services: ServicesDep) -> EdgeModelCatalog:
    return EdgeModelCatalog(services.settings.edge_models_root)


@router.get("/v1/edge-models", summary="List edge model versions on offer")
async def list_edge_models(_: Annotated[Principal, Depends(require(Permission.EDGES_READ))],
                           services: ServicesDep) -> list[EdgeModelPublic]:
    """Every valid version under `cloud.edge_models_dir` (a version whose files do not match its manifest is left
    out and logged)."""
    found = await asyncio.to_thread(_catalog(services).versions)
    return [EdgeModelPublic(version=v.version, manifest=v.manifest, files=list(v.files), url=files_path(v.version))
            for v in found]


@router.get("/v1/edge-models/{version}/files/{name}", summary="Download one file of an edge model version",
            response_class=FileResponse, responses={
                200: {"content": {"application/octet-stream": {}}, "description": "the file's bytes"},
                **error_responses(404)})
async def get_edge_model_file(version: VersionParam, name: FileParam,
                              _: Annotated[Principal, Depends(require(Permission.EDGES_READ))],
                              services: ServicesDep) -> FileResponse:
    """One file the version lists (edges fetch these during a roll-out; the edge role may read them)."""
    path = await asyncio.to_thread(_catalog(services).file, version, name)
    return FileResponse(path, media_type="application/octet-stream")


@router.post("/v1/edges/{edge_id}/models", status_code=status.HTTP_202_ACCEPTED,
             summary="Order an edge to activate a model version or roll back", responses=error_responses(404, 503))
async def order_edge_model(edge_id: str, body: ModelOrderCreate,
                           principal: Annotated[Principal, Depends(require(Permission.EDGES_WRITE))],
                           services: ServicesDep, trace_id: TraceId) -> ModelOrderAccepted:
    """Publish the order retained on the edge's models channel (an offline edge gets it when it reconnects)."""
    edge = await visible_edge(services, principal, edge_id)
    if body.action is ModelAction.ACTIVATE:
        assert body.version is not None  # ModelOrderCreate's validator
        found = await asyncio.to_thread(_catalog(services).get, body.version)
        order = ModelOrder(action=body.action, version=found.version, files=found.files, url=files_path(found.version))
    else:
        order = ModelOrder(action=body.action, version=body.version)
    envelope = Envelope(trace_id=trace_id, source="cloud", type=ORDER_TYPE, payload=order.model_dump(mode="json"))
    detail = {"site": edge.site, "action": body.action.value, "version": body.version, "order_id": envelope.id}
    target = f"edge:{edge_id}"
    try:
        if services.model_orders is None:
            raise TransportError("no edge link is configured on this server: orders cannot reach edges")
        await services.model_orders.publish_order(edge_id, envelope)
    except AutoGLMError as exc:
        await services.store.record(actor=principal.subject, action="model.order_failed", target=target,
                                    trace_id=trace_id, detail={**detail, "error": str(exc)})
        raise
    await services.store.record(actor=principal.subject, action=f"model.{body.action.value}", target=target,
                                trace_id=trace_id, detail=detail)
    return ModelOrderAccepted(order_id=envelope.id, edge_id=edge_id, trace_id=trace_id,
                              topic=edge_topic(edge_id, EdgeChannel.MODELS), order=order)
