"""Racing desired writes on the cloud's store, with the no-expected-version negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.twins_racing_writes import racing_writes


def test_exactly_one_racer_wins_each_race_and_the_others_get_a_conflict(tmp_path: Path) -> None:
    figures = asyncio.run(racing_writes(tmp_path / "race.db", 100, racers=3))
    assert figures["one_winner"] == 100 and figures["lost"] == 0 and figures["errors"] == 0
    assert figures["conflicts"] == 200  # two losers a race
    assert figures["final_version"] == 100


def test_negative_control_without_the_expected_version_loses_updates(tmp_path: Path) -> None:
    figures = asyncio.run(racing_writes(tmp_path / "race.db", 20, safeguard=False))
    assert figures["lost"] == 20 and figures["conflicts"] == 0
    assert figures["final_version"] == 40  # every write went through, each unaware of its rival
