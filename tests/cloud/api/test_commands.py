"""Natural-language commands to an edge: 503 without an edge link, delivery and audit with one."""

from __future__ import annotations

from typing import Any

from cloud.store import AuditQuery
from shared.errors import TransportError
from tests.cloud.conftest import EDGE_A, EDGE_B, SITE_A, Cloud


class Sender:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail

    async def send_command(self, edge_id: str, text: str, *, language: str | None, trace_id: str,
                           command_id: str) -> dict[str, Any] | None:
        if self.fail:
            raise TransportError("broker down")
        self.sent.append({"edge_id": edge_id, "text": text, "language": language, "trace_id": trace_id})
        return None


async def test_without_edge_link_commands_are_503(cloud: Cloud) -> None:
    response = await cloud.client.post(f"/v1/edges/{EDGE_A}/commands", json={"text": "lights off"},
                                       headers=await cloud.as_("operator"))
    assert response.status_code == 503 and response.json()["error"]["code"] == "transport_error"
    assert "no edge link" in response.json()["error"]["message"]


async def test_command_is_sent_with_trace_id_and_audited(cloud: Cloud) -> None:
    sender = Sender()
    cloud.app.state.services.commander = sender
    headers = {**await cloud.as_("operator"), "X-Trace-ID": "cmd-trace"}
    response = await cloud.client.post(f"/v1/edges/{EDGE_A}/commands",
                                       json={"text": "把客厅的灯打开", "language": "zh-cn"}, headers=headers)
    assert response.status_code == 202
    assert response.json()["status"] == "sent" and response.json()["trace_id"] == "cmd-trace"
    assert sender.sent == [{"edge_id": EDGE_A, "text": "把客厅的灯打开", "language": "zh-cn", "trace_id": "cmd-trace"}]
    entries = await cloud.store.list_audit(AuditQuery(trace_id="cmd-trace"))
    assert [e.action for e in entries] == ["command.send"] and entries[0].site == SITE_A


async def test_command_errors_and_scope(cloud: Cloud) -> None:
    cloud.app.state.services.commander = Sender(fail=True)
    op = await cloud.as_("operator")
    failed = await cloud.client.post(f"/v1/edges/{EDGE_A}/commands", json={"text": "x"}, headers=op)
    assert failed.status_code == 503 and "broker down" in failed.json()["error"]["message"]
    scoped = await cloud.as_("operator", sites={SITE_A})
    hidden = await cloud.client.post(f"/v1/edges/{EDGE_B}/commands", json={"text": "x"}, headers=scoped)
    assert hidden.status_code == 404
    empty = await cloud.client.post(f"/v1/edges/{EDGE_A}/commands", json={"text": ""}, headers=op)
    assert empty.status_code == 422
