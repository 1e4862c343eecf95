"""What a reliability scenario is, for the modules that declare them and the report that runs them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The summed figures of the report's JSON summary, in its order.
TOTALS = ("lost", "double_applied", "crashes", "corrupt_db", "unauthorized_calls", "api_5xx", "rbac_mismatches",
          "version_regressions", "lock_errors")


@dataclass(frozen=True)
class Scenario:
    """One measured scenario: its name, what it claims, how to run it, and which totals its figures feed.

    `run(tmp_dir, full, seed)` returns the scenario's figures; `totals` maps a summary key (one of `TOTALS`) to the
    figure that feeds it. A negative control switches its safeguard off and must report `loss_figure` above 0.
    A figure named `errors` above 0 fails the report too (something went wrong that is not a measured loss).
    """

    name: str
    claim: str
    run: Callable[[Path, bool, int], Awaitable[dict[str, Any]]]
    totals: dict[str, str]  # summary key -> this scenario's figure
    negative_control: bool = False
    loss_figure: str = "lost"  # the figure a negative control must show above 0
