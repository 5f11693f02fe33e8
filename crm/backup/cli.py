"""`flask --app wsgi crm backup FILE`, `crm restore FILE` and `crm verify-backup FILE`.

Each refusal or failure is one clear message on stderr and exit status 1, never a traceback,
so the commands can run from cron or a systemd timer and be checked by their status.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import click
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import text
from sqlalchemy.engine import Engine

from crm.backup import postgresql, sqlite
from crm.backup.files import (
    BackupError,
    Contents,
    Kind,
    kind_of_database,
    kind_of_file,
    refuse_other_kind,
    written_whole,
)
from crm.extensions import db

HANDLERS: dict[Kind, ModuleType] = {Kind.SQLITE: sqlite, Kind.POSTGRESQL: postgresql}
FILE = click.Path(path_type=Path)


@click.command("backup")
@click.argument("file", type=FILE)
@click.option("--force", is_flag=True, help="Replace FILE if it already exists.")
@with_appcontext
def backup_command(file: Path, force: bool) -> None:
    """Write a consistent snapshot of the database to FILE, safe while the app runs.

    SQLite: a copy of the database file. PostgreSQL: a pg_dump archive in custom format.
    FILE is written under a temporary name next to it and renamed when complete.
    """
    with _reported():
        engine = db.engine
        kind = kind_of_database(engine.url)
        if kind is Kind.SQLITE:
            sqlite.refuse_database_file(engine, file)
        with written_whole(file, force) as partial:
            HANDLERS[kind].back_up(engine, partial)
    click.echo(f"Backed up the {kind.database_name} database {_where(engine)} to {file} ({_size(file)}).")


@click.command("restore")
@click.argument("file", type=FILE)
@with_appcontext
def restore_command(file: Path) -> None:
    """Restore the backup FILE into the configured database, which must be empty."""
    with _reported():
        engine = db.engine
        kind = kind_of_database(engine.url)
        refuse_other_kind(file, kind_of_file(file), kind)
        handler = HANDLERS[kind]
        tables = handler.existing_tables(engine)
        if tables:
            raise BackupError(
                f"The database {_where(engine)} already has {len(tables)} tables ({', '.join(tables[:4])}"
                f"{', ...' if len(tables) > 4 else ''}): a backup is restored only into an empty database. "
                "Create a new database (or move this one aside) and point DATABASE_URL at it."
            )
        handler.restore(file, engine)
    click.echo(f"Restored {file} into the {kind.database_name} database {_where(engine)}.")
    click.echo(_revision_note(_restored_revision()))


@click.command("verify-backup")
@click.argument("file", type=FILE)
@with_appcontext
def verify_backup_command(file: Path) -> None:
    """Read the backup FILE through and list its tables and row counts; changes no database.

    Exits with status 1 when FILE is missing, damaged or not a Backbone CRM backup.
    """
    with _reported():
        kind = kind_of_file(file)
        contents = HANDLERS[kind].contents(file)
        if contents.revision is None:
            raise BackupError(f"{file} is {kind.file_description} but not a Backbone CRM backup: it has no schema revision.")
    _print_contents(file, contents)


def _print_contents(file: Path, contents: Contents) -> None:
    click.echo(f"{file}: {contents.kind.file_description}, {_size(file)}; " + "; ".join(contents.facts) + ".")
    click.echo(_revision_note(contents.revision))
    width = max((len(name) for name in contents.row_counts), default=len("table"))
    click.echo(f"{'table'.ljust(width)}  {'rows':>10}")
    for name, count in contents.row_counts.items():
        click.echo(f"{name.ljust(width)}  {count:>10,}")
    click.echo(f"{len(contents.row_counts)} tables, {sum(contents.row_counts.values()):,} rows.")


def _revision_note(revision: str | None) -> str:
    if revision is None:
        return "The schema has no Alembic revision."
    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    heads = script.get_heads()
    if revision in heads:
        return f"Schema revision {revision}: this code's latest migration."
    try:
        script.get_revision(revision)
    except CommandError:
        return f"Schema revision {revision}, which this code does not know: use the code that made the backup, or newer."
    return f"Schema revision {revision}, older than this code's {', '.join(heads)}: run `flask --app wsgi db upgrade` after restoring."


def _restored_revision() -> str | None:
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _where(engine: Engine) -> str:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return f"{url.database} on {url.host or 'the local server'}"


def _size(path: Path) -> str:
    size = float(path.stat().st_size)
    units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
    unit = 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return f"{size:,.0f} bytes" if unit == 0 else f"{size:,.1f} {units[unit]}"


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """Turn a BackupError into Click's one-line error on stderr and exit status 1."""
    try:
        yield
    except BackupError as error:
        raise click.ClickException(str(error)) from None
