"""`autoglm cloud ...`: the cloud control plane (API server, tokens)."""

from __future__ import annotations

import typer

app = typer.Typer(help="The cloud control plane: operators' API, fleet twins, planner.", no_args_is_help=True)
