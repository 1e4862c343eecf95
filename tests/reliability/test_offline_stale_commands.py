"""Commands that expired while the edge was away, with the expiry-blind negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.offline_stale_commands import stale_commands


def test_expired_commands_are_refused_with_a_reason_and_fresh_ones_run(tmp_path: Path) -> None:
    figures = asyncio.run(stale_commands(tmp_path, commands=40, seed=5))
    assert figures["refused_expired"] == 20 and figures["refused_without_reason"] == 0
    assert figures["executed_stale"] == 0 and figures["stale_at_devices"] == 0
    assert figures["fresh_done"] == 20


def test_negative_control_an_expiry_blind_edge_runs_stale_commands(tmp_path: Path) -> None:
    figures = asyncio.run(stale_commands(tmp_path, commands=20, seed=5, safeguard=False))
    assert figures["executed_stale"] == 10 and figures["stale_at_devices"] == 10
