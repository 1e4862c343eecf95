"""`autoglm planner ...`: the GLM planner's offline verbs (quantize, train-tiny)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from shared.errors import ModelError

app = typer.Typer(help="The GLM planner: quantize checkpoints, train the tiny planner.", no_args_is_help=True)


@app.command("quantize")
def quantize(
    model: Annotated[Path, typer.Option("--model", help="checkpoint directory (save_pretrained)")],
    out: Annotated[Path, typer.Option("--out", help="directory to write the quantized checkpoint to")],
    dtype: Annotated[str, typer.Option("--dtype", help="int8 (torchao weight-only) or bf16")] = "int8",
) -> None:
    """Write an INT8 weight-only or bf16 copy of a planner checkpoint; prints its weight bytes as JSON."""
    if dtype not in ("int8", "bf16"):
        typer.secho(f"error: --dtype must be int8 or bf16, not {dtype!r}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    if not (model / "config.json").is_file():
        typer.secho(f"error: {model} is not a checkpoint directory (no config.json); "
                    "train one with `autoglm planner train-tiny`", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    typer.echo(f"loading {model} and writing {dtype} to {out} ...", err=True)
    from cloud.planner.quantize import quantize_checkpoint  # torch loads only for this command

    try:
        report = quantize_checkpoint(model, out, "int8" if dtype == "int8" else "bf16")
    except ModelError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    typer.echo(f"wrote {out}: {report.weight_bytes:,} weight bytes ({report.ratio_to_bf16:.3f}x bf16)", err=True)
    typer.echo(json.dumps(report.as_dict()))
