"""`autoglm cloud ...`: the cloud control plane (API server, tokens)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from autoglm.logs import setup_logging
from autoglm.terminal import echo, secho
from shared.errors import AutoGLMError

T = TypeVar("T")

app = typer.Typer(help="The cloud control plane: operators' API, fleet twins, planner.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: create (secret shown once), list, revoke.", no_args_is_help=True)
app.add_typer(token_app, name="token")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings file (TOML, [cloud] and [planner] "
                                                                 "tables); env OPEN_AUTOGLM_CLOUD__* wins.")]
DbOpt = Annotated[Path | None, typer.Option("--db", help="SQLite database (default: settings' db_path, "
                                                         "var/cloud.db).")]


def _fail(message: str) -> typer.Exit:
    secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def _settings(config: Path | None, **overrides: Any) -> Any:
    from cloud.settings import load_cloud_settings

    try:
        return load_cloud_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    except AutoGLMError as exc:
        raise _fail(str(exc)) from None


def _with_store(db: Path, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(store)` on an opened store; project errors become one line and exit 1."""
    from cloud.sqlite_store import SqliteStore

    async def main() -> T:
        store = SqliteStore(db)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except AutoGLMError as exc:
        raise _fail(str(exc)) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default from settings, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default from settings, 8080).")] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the cloud API (FastAPI under uvicorn): fleet, twins, commands, plans, audit; docs at /docs."""
    import uvicorn

    from cloud.app import create_app
    from cloud.metrics import CloudMetrics
    from cloud.mqtt_link import open_mqtt_link
    from cloud.planner.backend import open_planner

    setup_logging(log_level)
    settings = _settings(config, host=host, port=port, db_path=db)
    metrics = CloudMetrics()
    try:
        application = create_app(
            settings, metrics=metrics,
            planner_factory=lambda: open_planner(settings.planner, registry=metrics.registry),
            link_factory=(lambda store: open_mqtt_link(settings.mqtt, store, step_timeout_s=settings.command_timeout_s))
            if settings.mqtt_enabled else None)
    except AutoGLMError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"cloud API on http://{settings.host}:{settings.port} (docs at /docs, database {settings.db_path})",
               err=True)
    uvicorn.run(application, host=settings.host, port=settings.port, log_config=None, access_log=False)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="admin, operator, viewer, auditor or edge.")],
    site: Annotated[list[str] | None, typer.Option("--site", help="A site the token may see (repeat); "
                                                                  "default every site.")] = None,
    edge: Annotated[str | None, typer.Option("--edge", help="The edge an edge credential belongs to.")] = None,
    ttl_days: Annotated[int | None, typer.Option(help="Lifetime in days; 0 never expires (default 90).")] = None,
    name: Annotated[str | None, typer.Option(help="A label, e.g. who holds it.")] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create a token and print its secret once (only its hash is stored)."""
    from cloud.auth import issue_token

    settings = _settings(config, db_path=db)
    days = settings.token_ttl_days if ttl_days is None else ttl_days
    if days < 0:
        raise _fail("--ttl-days must be 0 (never expires) or more")
    try:
        issued = issue_token(role, sites=frozenset(site) if site else None, edge_id=edge, name=name,
                             ttl=timedelta(days=days) if days else None)
    except AutoGLMError as exc:
        raise _fail(str(exc)) from None
    _with_store(settings.db_path, lambda store: store.add_token(issued.record))
    r = issued.record
    typer.echo(f"token {r.token_id}: role {r.role}, sites {', '.join(sorted(r.sites)) if r.sites else 'all'}"
               f"{f', edge {r.edge_id}' if r.edge_id else ''}, expires {r.expires_ts or 'never'} "
               "(the secret below is shown only now)", err=True)
    typer.echo(issued.secret)


@app.command("backup")
def backup(
    out: Annotated[Path, typer.Option("--out", help="A new directory for the copy and its manifest.")],
    db: DbOpt = None, config: ConfigOpt = None,
) -> None:
    """Copy the cloud's database while it runs (SQLite online backup; the copy integrity-checked)."""
    from autoglm.backup import backup as run_backup

    settings = _settings(config, db_path=db)
    try:
        manifest = run_backup([settings.db_path], out, side="cloud")
    except AutoGLMError as exc:
        raise _fail(str(exc)) from None
    for entry in manifest["files"]:
        echo(f"{entry['name']}  {entry['bytes']} bytes  sha256 {entry['sha256'][:16]}")


@app.command("restore")
def restore(
    backup_dir: Annotated[Path, typer.Argument(help="A directory `autoglm cloud backup` wrote.")],
    db: DbOpt = None, config: ConfigOpt = None,
) -> None:
    """Put a checked backup in place of the cloud's database. Stop the cloud first."""
    from autoglm.backup import check
    from autoglm.backup import restore as run_restore

    settings = _settings(config, db_path=db)
    try:
        names = [entry["name"] for entry in check(backup_dir, side="cloud")["files"]]
        if names != [settings.db_path.name]:
            raise _fail(f"{backup_dir} holds {names}, not {settings.db_path.name}")
        restored = run_restore(backup_dir, settings.db_path.parent, side="cloud")
    except AutoGLMError as exc:
        raise _fail(str(exc)) from None
    for path in restored:
        echo(f"restored {path}")


@token_app.command("list")
def token_list(db: DbOpt = None, config: ConfigOpt = None) -> None:
    """List tokens (never their secrets)."""
    settings = _settings(config, db_path=db)
    tokens = _with_store(settings.db_path, lambda store: store.list_tokens())
    for t in tokens:
        state = "revoked" if t.revoked_ts else f"expires {t.expires_ts:%Y-%m-%d}" if t.expires_ts else "no expiry"
        sites = ",".join(sorted(t.sites)) if t.sites else "*"
        echo(f"{t.token_id}  {t.role:<8}  sites={sites}  edge={t.edge_id or '-'}  {state}  {t.name or ''}"
                   .rstrip())


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The token's id (agh_<id>_...).")],
                 db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Revoke a token at once."""
    from shared.envelope import utcnow

    settings = _settings(config, db_path=db)
    if token_id.startswith("agh_"):  # a whole token pasted: take its id
        token_id = token_id.split("_", 2)[1]
    token = _with_store(settings.db_path, lambda store: store.revoke_token(token_id, utcnow()))
    typer.echo(f"token {token.token_id} revoked at {token.revoked_ts}")
