"""An uplink and a local broker outage, with the no-outbox negative control."""

from __future__ import annotations

from pathlib import Path

from bench.reliability.broker_outage import outage


async def test_an_uplink_and_a_local_outage_lose_nothing_uncounted_and_memory_stays_flat(tmp_path: Path) -> None:
    figures = await outage(tmp_path, 2.0, around_s=0.75)
    assert figures["errors"] == 0 and figures["rss_samples"] >= 10
    assert figures["produced"] > 60 and figures["evicted_counted"] > 0  # the bound was hit, and said so
    assert figures["delivered"] + figures["evicted_counted"] >= figures["produced"] and figures["lost"] == 0
    assert figures["rss_growth_mb"] < 50
    assert figures["uplink_resume_s"] is not None and figures["local_resume_s"] is not None


async def test_negative_control_an_edge_without_outbox_loses_what_it_reports_during_an_uplink_outage(
        tmp_path: Path) -> None:
    figures = await outage(tmp_path, 2.0, phases=("uplink",), outbox=False, around_s=0.75)
    assert figures["errors"] == 0 and figures["evicted_counted"] == 0
    assert figures["lost"] > 0
