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


@app.command("train-tiny")
def train_tiny(
    out: Annotated[Path, typer.Option("--out", help="directory to write the tiny planner to")] = Path(
        "var/planner-tiny"),
    profile: Annotated[str, typer.Option("--profile", help="full (the demo's planner) or ci (small, fast)")] = "full",
    seed: Annotated[int, typer.Option("--seed", help="seed of data, tokenizer and weights")] = 0,
    threads: Annotated[int | None, typer.Option("--threads", help="torch CPU threads (default: the profile's)")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="optimiser steps (default: the profile's)")] = None,
    init: Annotated[Path | None, typer.Option("--init", help="continue from this tiny planner (use a new --seed)")
                    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="peak learning rate (default: the profile's)")] = None,
) -> None:
    """Train the tiny GLM planner on generated en/zh requests; prints its accuracy figures as JSON on the last line."""
    from dataclasses import replace

    from cloud.planner.tiny.train import MANIFEST, PROFILES  # torch loads only for this command

    if profile not in PROFILES:
        typer.secho(f"error: unknown profile {profile!r}: use {' or '.join(PROFILES)}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    if threads is not None and threads < 1:
        typer.secho("error: --threads must be at least 1", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    if steps is not None and steps < 1:
        typer.secho("error: --steps must be at least 1", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    chosen = PROFILES[profile]
    if threads is not None:
        chosen = replace(chosen, threads=threads)
    if steps is not None:
        chosen = replace(chosen, steps=steps)
    if lr is not None:
        chosen = replace(chosen, lr=lr)
    if init is not None:
        if not (init / MANIFEST).is_file():
            typer.secho(f"error: {init} holds no tiny planner ({MANIFEST} missing)", err=True, fg=typer.colors.RED)
            raise typer.Exit(2)
        chosen = replace(chosen, curriculum=0.0)
    typer.echo(f"training the tiny planner ({profile} profile, seed {seed}) into {out} ...", err=True)
    from cloud.planner.tiny.train import train_tiny as run

    try:
        manifest = run(out, profile=chosen, seed=seed, progress=True, init=init)
    except OSError as exc:
        typer.secho(f"error: cannot write {out}: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    typer.echo(f"wrote {out} in {manifest['total_seconds']:.0f}s", err=True)
    figures: dict[str, object] = {"out": str(out), "profile": profile, "seed": seed}
    for split, report in manifest["accuracy"].items():  # test, heldout (free decoding), *_grammar (constrained)
        figures[f"exact_plan_{split}"] = report["exact_plan"]
        figures[f"valid_json_{split}"] = report["valid_json"]
    figures |= {"train_seconds": manifest["train_seconds"], "total_seconds": manifest["total_seconds"]}
    typer.echo(json.dumps(figures, ensure_ascii=False))
