"""Flask CLI commands: `flask --app server init-db` and friends."""

from __future__ import annotations

import datetime

import click
import orjson
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from . import tasks
from .api.targets import target_fields
from .errors import ApiError
from .import_command import ingest_file
from .storage import database_url, get_store, own_embedded_server
from .storage.migrate import apply_schema


def register_commands(app: Flask) -> None:
    """Attach the project's commands to `flask --app server`."""
    app.cli.add_command(init_db)
    app.cli.add_command(supabase_sql)
    app.cli.add_command(ingest_file)
    for command in (distribute, release, cleanup, targets):
        app.cli.add_command(command)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create the tables, SQL functions and indexes (safe to run again)."""
    config = current_app.config
    if config["STORAGE_BACKEND"] == "supabase":
        raise click.ClickException(
            "the Supabase backend cannot run DDL over REST; print the set-up SQL with"
            " `flask --app server supabase-sql` and run it in Supabase's SQL editor (docs/supabase.md)")
    own_embedded_server(config)
    apply_schema(database_url(config))
    click.echo(f"schema applied ({config['STORAGE_BACKEND']} backend)")


@click.command("supabase-sql")
def supabase_sql() -> None:
    """Print the set-up SQL to paste into Supabase's SQL editor (tables, functions, indexes, RLS)."""
    from .storage.supabase_setup import setup_sql

    click.echo(setup_sql(), nl=False)


def _echo_json(data) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


@click.command("distribute")
@with_appcontext
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]),
              help="YYYY-MM-DD; default today in TIMEZONE")
@click.option("--top-up", is_flag=True, help="fill targets still below quota on a date already run")
def distribute(day: datetime.datetime | None, top_up: bool) -> None:
    """Run the daily distribution (the cron job; same as POST /api/distribution/run)."""
    own_embedded_server(current_app.config)
    _echo_json(tasks.run_distribution(day.date() if day else None, top_up))


@click.command("release")
@with_appcontext
@click.option("--older-than-days", type=click.IntRange(1, 365), help="default RELEASE_AFTER_DAYS")
def release(older_than_days: int | None) -> None:
    """Give assignments never sent back to the pool (same as POST /api/distribution/release)."""
    own_embedded_server(current_app.config)
    _echo_json(tasks.release_unsent(older_than_days))


@click.command("cleanup")
@with_appcontext
def cleanup() -> None:
    """Delete raw rows past RAW_RETENTION_DAYS and forget expired Idempotency-Keys, in batches."""
    own_embedded_server(current_app.config)
    _echo_json(tasks.retention_cleanup())


targets = AppGroup("targets", help="List, add, change and deactivate distribution targets.")


def _store():
    """The store for a command: the embedded server started (and stopped at exit) if it is the backend."""
    own_embedded_server(current_app.config)
    return get_store()


def _target_call(call, target_id: int | None = None) -> None:
    """Run a store call with target fields validated like the API, and print the result."""
    try:
        result = call()
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    if result is None:
        raise click.ClickException(f"no target with id {target_id}")
    _echo_json(result)


@targets.command("list")
def targets_list() -> None:
    """Print every target."""
    _echo_json(_store().list_targets())


@targets.command("add")
@click.argument("name")
@click.option("--quota", type=int, required=True, help="profiles per day")
@click.option("--source", "sources", multiple=True, help="only profiles of this source (repeatable)")
def targets_add(name: str, quota: int, sources: tuple[str, ...]) -> None:
    """Create a target."""
    def call():
        fields = target_fields({"name": name, "daily_quota": quota, "sources": list(sources) or None},
                               partial=False)
        return _store().create_target(fields["name"], fields["daily_quota"], fields["sources"])

    _target_call(call)


@targets.command("set")
@click.argument("target_id", type=int)
@click.option("--name")
@click.option("--quota", type=int)
@click.option("--active/--inactive", default=None)
@click.option("--any-source", is_flag=True, help="drop the source filter")
@click.option("--source", "sources", multiple=True, help="replace the source filter (repeatable)")
def targets_set(target_id: int, name: str | None, quota: int | None, active: bool | None,
                any_source: bool, sources: tuple[str, ...]) -> None:
    """Change a target."""
    changes = {"name": name, "daily_quota": quota, "active": active}
    changes = {key: value for key, value in changes.items() if value is not None}
    if any_source or sources:
        changes["sources"] = list(sources) or None
    _target_call(lambda: _store().update_target(target_id, target_fields(changes, partial=True))
                 if changes else _store().get_target(target_id), target_id)


@targets.command("deactivate")
@click.argument("target_id", type=int)
def targets_deactivate(target_id: int) -> None:
    """Stop giving a target profiles; its past assignments stay."""
    _target_call(lambda: _store().update_target(target_id, {"active": False}), target_id)
