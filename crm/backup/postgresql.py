"""PostgreSQL backups: pg_dump's custom format, restored with pg_restore.

pg_dump reads one snapshot of the database, so the dump is consistent while the app and the
worker write. The tools are given the connection as libpq parameters built from the
SQLAlchemy URL (whose "+psycopg" driver part means nothing to them); the password travels
in the PGPASSWORD environment variable, never on a command line, which other users of the
server can read.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import OperationalError

from crm.backup.files import ALEMBIC_TABLE, BackupError, Contents, Kind

# `pg_restore --list`: one line per archive entry, e.g. "215; 1259 16478 TABLE public inquiries backbone".
ALEMBIC_ENTRY = re.compile(rf"^\d+; \d+ \d+ TABLE \S+ {ALEMBIC_TABLE} ", re.MULTILINE)
HEADER_FACTS = {
    "Archive created at": "made",
    "dbname:": "from the database",
    "Dumped from database version:": "PostgreSQL",
}
# `pg_restore --data-only --file=-`: each table's rows follow "COPY schema.table (columns) FROM stdin;",
# one line per row (newlines inside values are written as \n), up to a line "\.".
COPY_START = re.compile(rb'^COPY ((?:"(?:[^"]|"")+"|[^ ."]+)\.)?("(?:[^"]|"")+"|[^ ."]+) ')
COPY_END = b"\\.\n"


def connection_parameters(url: URL) -> tuple[str, dict[str, str]]:
    """The libpq connection string for ``url`` without its password, and the environment
    variables that carry the password (none when the URL has none: ~/.pgpass or a
    PGPASSWORD already set then apply, as for psql)."""
    parameters: dict[str, object] = url.translate_connect_args(username="user", database="dbname")
    password = parameters.pop("password", None)
    for key, value in url.query.items():
        joined = ",".join(value) if isinstance(value, tuple) else value
        if key == "password":
            password = joined
        else:
            parameters[key] = joined
    try:
        conninfo = make_conninfo("", **parameters)
    except psycopg.ProgrammingError as error:
        raise BackupError(f"The database URL has a parameter PostgreSQL's tools do not accept: {error}.") from None
    return conninfo, ({"PGPASSWORD": str(password)} if password else {})


def back_up(engine: Engine, partial: Path) -> None:
    conninfo, environment = connection_parameters(engine.url)
    result = _run(["pg_dump", "--format=custom", "--no-password", f"--file={partial}", f"--dbname={conninfo}"], environment)
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed; no backup was written:\n{result.stderr.strip()}")


def existing_tables(engine: Engine) -> list[str]:
    try:
        with engine.connect() as connection:
            return sorted(inspect(connection).get_table_names())
    except OperationalError as error:
        raise BackupError(f"Cannot open the database {engine.url.database}: {error.orig}".strip()) from None


def restore(backup: Path, engine: Engine) -> None:
    listing = _listing(backup)
    if not ALEMBIC_ENTRY.search(listing):
        raise BackupError(f"{backup} is a PostgreSQL dump but not a Backbone CRM backup: it has no {ALEMBIC_TABLE} table.")
    conninfo, environment = connection_parameters(engine.url)
    result = _run(
        [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "--no-password",
            f"--dbname={conninfo}",
            str(backup),
        ],
        environment,
    )
    if result.returncode != 0:
        raise BackupError(
            f"pg_restore failed, and nothing was restored (it runs in one transaction):\n{result.stderr.strip()}"
        )
    # pg_restore leaves the planner without statistics until autovacuum gets to the tables.
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def contents(backup: Path) -> Contents:
    """Rows per table, read by decompressing every table's data out of the archive (into no
    database), which also proves the whole file can be read."""
    facts = _header_facts(_listing(backup))
    counts: dict[str, int] = {}
    revision: str | None = None
    # pg_restore's messages go to a file, not a pipe that nobody reads while its rows stream in.
    with tempfile.TemporaryFile() as errors:
        with subprocess.Popen(  # noqa: S603  (an argument list, never a shell)
            [_program("pg_restore"), "--data-only", "--file=-", str(backup)], stdout=subprocess.PIPE, stderr=errors
        ) as process:
            table: str | None = None
            for line in process.stdout:
                if table is None:
                    start = COPY_START.match(line)
                    if start:
                        table = _unquoted(start.group(2).decode())
                        counts[table] = 0
                elif line == COPY_END:
                    table = None
                else:
                    counts[table] += 1
                    if table == ALEMBIC_TABLE:
                        revision = line.decode().rstrip("\n")
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
    if process.returncode != 0:
        raise BackupError(f"{backup} is damaged: pg_restore could not read all of it:\n{message}")
    facts.append("pg_restore read every table's data")
    return Contents(Kind.POSTGRESQL, dict(sorted(counts.items())), revision, facts)


def _listing(backup: Path) -> str:
    result = _run(["pg_restore", "--list", str(backup)], {})
    if result.returncode != 0:
        raise BackupError(f"{backup} looks like a PostgreSQL dump but pg_restore cannot read it:\n{result.stderr.strip()}")
    return result.stdout


def _header_facts(listing: str) -> list[str]:
    facts = []
    for line in listing.splitlines():
        for label, said in HEADER_FACTS.items():
            if line.startswith(";") and line[1:].strip().startswith(label):
                facts.append(f"{said} {line[1:].strip()[len(label):].strip()}")
    return facts


def _run(arguments: list[str], environment: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (an argument list, never a shell)
        [_program(arguments[0]), *arguments[1:]],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=False,
    )


def _program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not installed (or not on PATH): install PostgreSQL's client tools, "
            "of the server's major version or newer (Debian: apt-get install postgresql-client)."
        )
    return path


def _unquoted(identifier: str) -> str:
    if identifier.startswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier
