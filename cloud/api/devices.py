"""Devices and their twins; desired updates use optimistic concurrency (`If-Match` or `expected_version`).

Site rule as in `cloud.api.edges`: invisible devices are 404 for reads and writes, left out of lists.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from cloud.api.deps import Services, ServicesDep, TraceId, require
from cloud.api.errors import PROTECTED_ERRORS, error_responses
from cloud.auth import Permission, Principal
from cloud.fleet import Device
from shared.errors import ConflictError, ContractError, NotFoundError
from shared.twin import TwinDocument, TwinValue

#: A twin version as `If-Match` carries it: ASCII digits, at most 18 (a version fits SQLite's 64-bit integer).
VERSION = re.compile(r"[0-9]{1,18}")
MAX_VERSION = 2**63 - 1

router = APIRouter(prefix="/v1/devices", tags=["devices"], responses=PROTECTED_ERRORS)

class DevicePublic(BaseModel):
    """A device as the API shows it."""

    device_id: str
    edge_id: str
    site: str
    domain: str
    name: str
    area: str | None
    device_class: str | None
    state: dict[str, Any]
    actions: list[str]

    @classmethod
    def of(cls, d: Device) -> DevicePublic:
        """From the fleet view."""
        return cls(device_id=d.device_id, edge_id=d.edge_id, site=d.site, domain=d.domain, name=d.name, area=d.area,
                   device_class=d.device_class, state=d.state, actions=d.action_names())

class DeviceDetail(DevicePublic):
    """A device with its twin document and desired version."""

    twin: TwinDocument
    version: int

class DesiredUpdate(BaseModel):
    """New desired values; `expected_version` (or `If-Match`) guards against lost updates."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any] = Field(min_length=1, max_length=64)
    expected_version: int | None = Field(default=None, ge=0, le=MAX_VERSION)

class DesiredResult(BaseModel):
    """The desired document's new version (also sent as the ETag)."""

    device_id: str
    version: int
    desired: dict[str, Any]

def parse_if_match(value: str | None) -> int | None:
    """`"3"`, `W/"3"` or `3` -> 3; None when absent."""
    if value is None:
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    # ASCII digits only: str.isdigit() also passes "²" (latin-1, so a header can carry it), which int() refuses.
    if not VERSION.fullmatch(raw):
        raise ContractError(f"If-Match must be a twin version such as \"3\", got {value!r}")
    return int(raw)

async def visible_device(services: Services, principal: Principal, device_id: str) -> Device:
    """The device if the principal may see it, else NotFoundError."""
    device = await services.store.get_device(device_id)
    if device is None or not principal.sees_device(device):
        raise NotFoundError(f"device {device_id!r} not found")
    return device

@router.get("", summary="List devices")
async def list_devices(principal: Annotated[Principal, Depends(require(Permission.DEVICES_READ))],
                       services: ServicesDep, site: str | None = None, edge_id: str | None = None,
                       area: str | None = None, domain: str | None = None) -> list[DevicePublic]:
    """Devices the caller may see, filtered by site, edge, area and domain."""
    sites = principal.sites
    if site is not None:
        sites = frozenset({site}) & sites if sites is not None else frozenset({site})
    devices = await services.store.list_devices(sites=sites, edge_id=edge_id, area=area, domain=domain)
    return [DevicePublic.of(d) for d in devices if principal.sees_device(d)]

@router.get("/{device_id}", summary="One device with its twin", responses=error_responses(404))
async def get_device(device_id: str, principal: Annotated[Principal, Depends(require(Permission.DEVICES_READ))],
                     services: ServicesDep, response: Response) -> DeviceDetail:
    """A device, its twin, and the desired version as the ETag."""
    device = await visible_device(services, principal, device_id)
    twin = await services.store.twin(device_id)
    version = twin.version if twin else 0
    response.headers["ETag"] = f'"{version}"'
    return DeviceDetail(**DevicePublic.of(device).model_dump(), version=version,
                        twin=twin.document if twin else TwinDocument(device_id=device_id))

@router.patch("/{device_id}/twin/desired", summary="Update desired state (optimistic concurrency)",
              responses=error_responses(404, 409))
async def update_desired(device_id: str, body: DesiredUpdate,
                         principal: Annotated[Principal, Depends(require(Permission.TWINS_WRITE))],
                         services: ServicesDep, trace_id: TraceId, response: Response,
                         if_match: Annotated[str | None, Header()] = None) -> DesiredResult:
    """Set desired values if the version still matches; the edge gets the delta."""
    device = await visible_device(services, principal, device_id)
    header_version = parse_if_match(if_match)
    if header_version is not None and body.expected_version not in (None, header_version):
        raise ContractError("If-Match and expected_version disagree; send one of them")
    expected = header_version if header_version is not None else body.expected_version
    detail = {"site": device.site, "values": body.values, "expected_version": expected}
    try:
        version = await services.store.set_desired(device_id, body.values, expected)
    except ConflictError:
        services.metrics.twin_conflicts.labels("desired").inc()
        await services.store.record(actor=principal.subject, action="twin.conflict", target=f"device:{device_id}",
                                    trace_id=trace_id, detail=detail)
        raise
    await services.store.record(actor=principal.subject, action="twin.desired", target=f"device:{device_id}",
                                trace_id=trace_id, detail={**detail, "version": version})
    if services.desired_publisher is not None:
        values = {k: TwinValue(value=v, version=version) for k, v in body.values.items()}
        await services.desired_publisher.publish_desired(device, values, trace_id=trace_id)
    response.headers["ETag"] = f'"{version}"'
    return DesiredResult(device_id=device_id, version=version, desired=body.values)
