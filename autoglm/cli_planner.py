"""`autoglm planner ...`: the GLM planner's offline verbs (quantize, train-tiny)."""

from __future__ import annotations

import typer

app = typer.Typer(help="The GLM planner: quantize checkpoints, train the tiny planner.", no_args_is_help=True)
