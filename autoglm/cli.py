"""`autoglm`: the one command line of AutoGLM Hybrid. Heavy imports stay inside each command."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from autoglm.logs import setup_logging
from autoglm.terminal import echo, secho
from shared.errors import AutoGLMError

app = typer.Typer(help="AutoGLM Hybrid: edge-plus-cloud agent runtime for smart homes.", no_args_is_help=True)
devices_app = typer.Typer(help="Simulated devices that speak Home Assistant MQTT discovery.", no_args_is_help=True)
edge_app = typer.Typer(help="The edge daemon that runs on each gateway.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")
app.add_typer(edge_app, name="edge")
intent_app = typer.Typer(help="The distilled intent model: data, training, prediction, evaluation.",
                         no_args_is_help=True)
app.add_typer(intent_app, name="intent")

HostOpt = Annotated[str, typer.Option(help="MQTT broker host.", envvar="OPEN_AUTOGLM_EDGE__MQTT__HOST")]
PortOpt = Annotated[int, typer.Option(help="MQTT broker port.", envvar="OPEN_AUTOGLM_EDGE__MQTT__PORT")]
UserOpt = Annotated[str | None, typer.Option(help="MQTT username (a broker that refuses anonymous clients).",
                                             envvar="OPEN_AUTOGLM_MQTT_USERNAME")]
PasswordOpt = Annotated[str | None, typer.Option(help="MQTT password (prefer the environment variable).",
                                                 envvar="OPEN_AUTOGLM_MQTT_PASSWORD")]
LogOpt = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]


def fail(message: str, code: int = 1) -> NoReturn:
    """One clear line on stderr, non-zero exit."""
    secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def run_async(main: object) -> None:
    """Run a coroutine; Ctrl-C stops quietly, project errors become one line."""
    try:
        asyncio.run(main)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass
    except (AutoGLMError, OSError) as exc:
        fail(str(exc))


@app.command()
def broker(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 1883,
    log_level: LogOpt = "info",
) -> None:
    """Run the embedded MQTT broker (amqtt) for the demo and development."""
    from autoglm.broker import serve

    setup_logging(log_level)
    typer.echo(f"embedded MQTT broker on {host}:{port} (Ctrl-C to stop)", err=True)
    run_async(serve(host, port))


@devices_app.command("simulate")
def devices_simulate(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 1883,
    discovery_prefix: Annotated[str, typer.Option(help="Home Assistant discovery prefix.")] = "homeassistant",
    username: UserOpt = None,
    password: PasswordOpt = None,
    log_level: LogOpt = "info",
) -> None:
    """Run the simulated home: lights, plugs, thermostat, cover, lock, vacuum, media player, sensors."""
    from autoglm.simhome import run_forever

    setup_logging(log_level)
    run_async(run_forever(host, port, discovery_prefix=discovery_prefix, username=username, password=password))


@edge_app.command("run")
def edge_run(
    config: Annotated[Path | None, typer.Option(help="Settings file (TOML); env OPEN_AUTOGLM_EDGE__* wins.")] = None,
    log_level: LogOpt = "info",
) -> None:
    """Run the edge daemon: discovery, twins, local intent pipeline, HTTP health and metrics."""
    from edge.config import load_settings
    from edge.daemon import run_daemon

    setup_logging(log_level)
    try:
        settings = load_settings(config)
    except AutoGLMError as exc:
        fail(str(exc))
    run_async(run_daemon(settings))


EdgeConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings file (TOML); env OPEN_AUTOGLM_EDGE__* "
                                                                     "wins. Its data_dir holds the databases.")]


@edge_app.command("backup")
def edge_backup(
    out: Annotated[Path, typer.Option("--out", help="A new directory for the copies and their manifest.")],
    config: EdgeConfigOpt = None,
) -> None:
    """Copy the edge's databases while it runs (SQLite online backup; each copy integrity-checked)."""
    from autoglm.backup import EDGE_DATABASES, backup
    from edge.config import load_settings

    try:
        data_dir = load_settings(config).data_dir
        manifest = backup([data_dir / name for name in EDGE_DATABASES], out, side="edge")
    except AutoGLMError as exc:
        fail(str(exc))
    for entry in manifest["files"]:
        echo(f"{entry['name']}  {entry['bytes']} bytes  sha256 {entry['sha256'][:16]}")


@edge_app.command("restore")
def edge_restore(
    backup_dir: Annotated[Path, typer.Argument(help="A directory `autoglm edge backup` wrote.")],
    config: EdgeConfigOpt = None,
) -> None:
    """Put a checked backup in place of the edge's databases. Stop the edge first."""
    from autoglm.backup import restore
    from edge.config import load_settings

    try:
        restored = restore(backup_dir, load_settings(config).data_dir, side="edge")
    except AutoGLMError as exc:
        fail(str(exc))
    for path in restored:
        echo(f"restored {path}")


@edge_app.command("say")
def edge_say(
    text: Annotated[str, typer.Argument(help="What to say, e.g. 'turn off the kitchen lights' or '把客厅的灯打开'.")],
    edge_id: Annotated[str, typer.Option(help="Which edge to ask.", envvar="OPEN_AUTOGLM_EDGE__EDGE_ID")] = "edge-1",
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 1883,
    language: Annotated[str | None, typer.Option(help="en or zh-cn; detected when omitted.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the edge's answer.")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole decision record.")] = False,
    confirm: Annotated[bool, typer.Option("--confirm", help="Confirm a sensitive action (unlock, bulk).")] = False,
    area: Annotated[str | None, typer.Option(help="The area you are in, for 'turn on the lights'.")] = None,
    user: Annotated[str | None, typer.Option(help="Who is speaking (priorities, behaviour monitoring).")] = None,
    token: Annotated[str | None, typer.Option("--confirm-token",
                                              help="Go ahead with a held request (the token it answered with).")
                     ] = None,
    username: UserOpt = None,
    password: PasswordOpt = None,
) -> None:
    """Send a command to a running edge over MQTT and print its answer."""
    from edge.say import say

    try:
        decision = say(text, edge_id=edge_id, host=host, port=port, language=language, timeout=timeout,
                       confirmed=confirm, area=area, user=user, confirm_token=token, username=username,
                       password=password)
    except AutoGLMError as exc:
        fail(str(exc))
    # the reply quotes the user, device names and the cloud planner: none of it may drive the terminal
    echo(decision.model_dump_json(indent=2) if as_json else f"[{decision.outcome}] {decision.reply}",
         keep="\n" if as_json else "")
    if decision.confirm_token and not as_json:
        echo(f"confirm within {decision.confirm_ttl_s:g} s: autoglm edge say {text!r} --confirm-token "
                   f"{decision.confirm_token}")
    if decision.outcome not in ("done", "answered"):
        raise typer.Exit(2)


@intent_app.command("data")
def intent_data(
    out: Annotated[Path, typer.Option(help="Directory for train.jsonl, calib.jsonl and the data card.")] = Path(
        "var/intent-data"),
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 0,
    per_intent: Annotated[int, typer.Option(help="Examples per intent and language.")] = 1500,
) -> None:
    """Generate labelled training data from HA templates, our phrasings and out-of-scope corpora."""
    from autoglm.intent.data import write_dataset

    card = write_dataset(out, seed=seed, per_intent=per_intent, progress=lambda msg: typer.echo(msg, err=True))
    typer.echo(f"{card.get('total', '?')} examples in {out} (data hash {str(card.get('data_hash', ''))[:12]})")


@intent_app.command("train")
def intent_train(
    out: Annotated[Path, typer.Option(help="Model directory to write (the edge's shipped model by default).")] = Path(
        "edge/models/intent"),
    data: Annotated[Path | None, typer.Option(help="Data directory from `autoglm intent data`; generated "
                                                   "when omitted.")] = None,
    profile: Annotated[str, typer.Option(help="full (the shipped model) or ci (a small, fast build).")] = "full",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Annotated[int | None, typer.Option(help="torch threads (default: the profile's, 2); 1 on a busy "
                                                     "machine, where two threads fight other jobs.")] = None,
) -> None:
    """Teacher -> student distillation -> calibration -> ONNX -> INT8, with a manifest."""
    from dataclasses import replace

    from autoglm.intent.data import write_dataset
    from autoglm.intent.train import PROFILES, build

    if profile not in ("full", "ci"):
        fail(f"unknown profile {profile!r}: use full or ci")
    if data is None:
        data = out.parent / f"{out.name}-data"
        write_dataset(data, seed=seed, per_intent=1500 if profile == "full" else 200,
                      progress=lambda msg: typer.echo(msg, err=True))
    if threads is not None and threads < 1:
        fail("--threads must be 1 or more")
    chosen = PROFILES[profile] if threads is None else replace(PROFILES[profile], threads=threads)
    manifest = build(data, out, profile=chosen, seed=seed)
    typer.echo(manifest.model_dump_json(indent=2, include={"version", "metrics", "thresholds", "temperature"}))


@intent_app.command("predict")
def intent_predict(
    input: Annotated[Path, typer.Option("--input", help="JSONL with a \"text\" per line.")],
    output: Annotated[Path, typer.Option("--output", help="JSONL to write.")],
    model: Annotated[Path, typer.Option(help="Model directory.")] = Path("edge/models/intent"),
    no_templates: Annotated[bool, typer.Option("--no-templates", help="Model stage only.")] = False,
) -> None:
    """Run the edge's local stages on each line: intent (out_of_scope when rejected), slots, confidence, stage."""
    import json

    from autoglm.intent.evaluate import read_jsonl
    from autoglm.intent.predict import Predictor

    try:
        rows = read_jsonl(input)
        predictor = Predictor(model, use_templates=not no_templates)
    except (OSError, ValueError, AutoGLMError) as exc:
        fail(str(exc))
    with output.open("w", encoding="utf-8") as fh:
        for row in rows:
            result = predictor.predict(row["text"], row.get("language"))
            fh.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")
    typer.echo(f"{len(rows)} lines -> {output}", err=True)


@intent_app.command("eval")
def intent_eval(
    files: Annotated[list[Path], typer.Argument(help="JSONL files with text, intent and slots.")],
    model: Annotated[Path, typer.Option(help="Model directory.")] = Path("edge/models/intent"),
    no_templates: Annotated[bool, typer.Option("--no-templates", help="Model stage only.")] = False,
) -> None:
    """Accuracy, out-of-scope rejection (with and without HA-overlap lines), slot F1, latency, as JSON."""
    import json

    from autoglm.intent.evaluate import evaluate
    from autoglm.intent.predict import Predictor

    try:
        predictor = Predictor(model, use_templates=not no_templates)
        reports = [evaluate(path, predictor) for path in files]
    except (OSError, ValueError, AutoGLMError) as exc:
        fail(str(exc))
    echo(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2, ensure_ascii=False), keep="\n")


@app.command()
def demo(
    script: Annotated[Path | None, typer.Option(help="Run the commands in FILE and exit (non-zero on a miss).")] = None,
    port: Annotated[int, typer.Option(help="Port for the embedded broker.")] = 18830,
    workdir: Annotated[Path | None, typer.Option(help="Where the edge keeps its database.")] = None,
    cloud: Annotated[bool, typer.Option(help="Also run the cloud API (twin sync, plans with the tiny GLM "
                                              "planner when one exists).")] = True,
    cloud_port: Annotated[int, typer.Option(help="Port for the cloud API.")] = 18080,
    planner: Annotated[Path | None, typer.Option(help="Tiny planner directory (default: var/planner-tiny, else "
                                                      "the shipped one).")] = None,
    train_planner: Annotated[bool, typer.Option(help="Train the tiny planner first when none exists.")] = False,
    log_level: LogOpt = "warning",
) -> None:
    """Embedded broker + simulated home + edge + cloud (API, twin sync, planner), with a prompt or a script."""
    from autoglm.demo import run_demo

    setup_logging(log_level)
    try:
        ok = asyncio.run(run_demo(script=script, port=port, workdir=workdir, cloud_port=cloud_port if cloud else None,
                                  planner_dir=planner, train_planner=train_planner))
    except KeyboardInterrupt:
        ok = True
    except (AutoGLMError, OSError) as exc:
        fail(str(exc))
    raise typer.Exit(0 if ok else 1)


# Sub-apps in their own modules; imported last because they use the helpers above.
from autoglm import cli_bench, cli_cloud, cli_planner  # noqa: E402


@app.command("trace")
def trace(
    trace_id: Annotated[str, typer.Argument(help="The trace id (a decision's trace_id, or X-Trace-ID).")],
    edge_db: Annotated[Path, typer.Option("--edge-db", help="The edge's database.")] = Path("var/edge/edge.db"),
    cloud_db: Annotated[Path, typer.Option("--cloud-db", help="The cloud's database.")] = Path("var/cloud.db"),
    no_edge: Annotated[bool, typer.Option("--no-edge", help="Leave out the edge's records.")] = False,
    no_cloud: Annotated[bool, typer.Option("--no-cloud", help="Leave out the cloud's records.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of text.")] = False,
) -> None:
    """One request's timeline: edge stages and device confirmations, the cloud's plan and every step."""
    import json

    from autoglm.trace import timeline

    try:
        events = asyncio.run(timeline(trace_id, edge_db=None if no_edge else edge_db,
                                      cloud_db=None if no_cloud else cloud_db))
    except AutoGLMError as exc:
        fail(str(exc))
    if not events:
        fail(f"no records of trace {trace_id}", code=3)
    for event in events:
        echo(json.dumps(event.as_json(), ensure_ascii=False, default=str) if as_json else event.line())


app.add_typer(cli_cloud.app, name="cloud")
app.add_typer(cli_planner.app, name="planner")
app.add_typer(cli_bench.app, name="bench")


if __name__ == "__main__":  # last: `python -m autoglm.cli` must see every command registered above
    app()
