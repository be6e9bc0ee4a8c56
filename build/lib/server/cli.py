"""Flask CLI commands: `flask --app server init-db` and friends."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .import_command import ingest_file
from .storage import database_url, own_embedded_server
from .storage.migrate import apply_schema


def register_commands(app: Flask) -> None:
    """Attach the project's commands to `flask --app server`."""
    app.cli.add_command(init_db)
    app.cli.add_command(supabase_sql)
    app.cli.add_command(ingest_file)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create the tables, SQL functions and indexes (safe to run again)."""
    config = current_app.config
    if config["STORAGE_BACKEND"] == "supabase":
        raise click.ClickException(
            "the Supabase backend cannot run DDL over REST; print the set-up SQL with"
            " `flask --app server supabase-sql` and run it in Supabase's SQL editor (README, Supabase)")
    own_embedded_server(config)
    apply_schema(database_url(config))
    click.echo(f"schema applied ({config['STORAGE_BACKEND']} backend)")


@click.command("supabase-sql")
def supabase_sql() -> None:
    """Print the set-up SQL to paste into Supabase's SQL editor (tables, functions, indexes, RLS)."""
    from .storage.supabase_setup import setup_sql

    click.echo(setup_sql(), nl=False)
