"""SQLite backups: a copy of the database file made with SQLite's online backup API.

The copy is taken in one step, which reads one consistent snapshot; in WAL mode (crm/__init__.py)
the web app and the job runner go on writing meanwhile. A file copy (`cp`) of a live database
can instead catch a half-applied write or miss the part still in the -wal file.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import Engine

from crm.backup.files import ALEMBIC_TABLE, BackupError, Contents, Kind

# Waits for a writer's lock as the app does (crm/__init__.py), in seconds.
LOCK_WAIT_SECONDS = 15.0


def database_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or engine.url.query.get("mode") == "memory":
        raise BackupError("The configured database is an in-memory SQLite database: it has no file to back up or restore into.")
    return Path(database)


def refuse_database_file(engine: Engine, target: Path) -> None:
    """Refuse to write a backup over the live database or its journal files."""
    database = database_path(engine).resolve()
    own_files = {database, *(database.with_name(database.name + suffix) for suffix in ("-wal", "-shm", "-journal"))}
    if target.resolve() in own_files:
        raise BackupError(f"{target} is the database itself (or one of its journal files); write the backup elsewhere.")


@contextlib.contextmanager
def opened(path: Path, mode: str) -> Iterator[sqlite3.Connection]:
    """A connection to an existing file (``mode`` "ro" or "rw": never creates one)."""
    connection = sqlite3.connect(f"file:{quote(str(path))}?mode={mode}", uri=True, timeout=LOCK_WAIT_SECONDS)
    try:
        yield connection
    finally:
        connection.close()


def back_up(engine: Engine, partial: Path) -> None:
    source = database_path(engine)
    if not source.is_file():
        raise BackupError(f"The database file {source} does not exist.")
    try:
        # Read-write, though it only reads: when no one else has the database open, a read-only
        # connection would leave -wal and -shm files behind, owned by whoever ran the backup.
        with opened(source, "rw") as database, contextlib.closing(sqlite3.connect(partial)) as copy:
            database.backup(copy)  # every page in one step: one snapshot, never restarted by a writer
            # The copy inherits WAL mode; a backup is one self-contained file, without -wal or -shm.
            copy.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as error:
        raise BackupError(f"The database {source} could not be copied: {error}.") from None


def existing_tables(engine: Engine) -> list[str]:
    path = database_path(engine)
    if not path.exists():
        return []
    try:
        with opened(path, "ro") as connection:
            return _table_names(connection)
    except sqlite3.Error as error:
        raise BackupError(f"The database file {path} cannot be read: {error}.") from None


def restore(backup: Path, engine: Engine) -> None:
    target = database_path(engine)
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} of the database file does not exist.")
    with _backup_file(backup) as source:
        _check_restorable(backup, source)
        engine.dispose()  # the app's own connections to the target are not needed here
        try:
            with contextlib.closing(sqlite3.connect(target, timeout=LOCK_WAIT_SECONDS)) as database:
                # One write transaction on the target: a failure leaves it as empty as it was.
                source.backup(database)
        except sqlite3.Error as error:
            raise BackupError(f"{backup} could not be restored into {target}: {error}.") from None


def contents(backup: Path) -> Contents:
    with _backup_file(backup) as connection:
        problems = _integrity_problems(connection, "integrity_check")
        if problems:
            raise BackupError(f"{backup} is damaged (SQLite's integrity check: {'; '.join(problems[:5])}).")
        tables = _table_names(connection)
        counts = {table: _row_count(connection, table) for table in tables}
        revision = _revision(connection) if ALEMBIC_TABLE in tables else None
    return Contents(Kind.SQLITE, counts, revision, ["SQLite's integrity check found no problem"])


@contextlib.contextmanager
def _backup_file(backup: Path) -> Iterator[sqlite3.Connection]:
    try:
        with opened(backup, "ro") as connection:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            yield connection
    except sqlite3.Error as error:
        raise BackupError(f"{backup} cannot be read as a SQLite database: {error}.") from None


def _check_restorable(backup: Path, connection: sqlite3.Connection) -> None:
    # The backup API copies pages as they are: check them first, so damage is not copied in.
    problems = _integrity_problems(connection, "quick_check")
    if problems:
        raise BackupError(f"{backup} is damaged (SQLite's quick check: {'; '.join(problems[:5])}); nothing was restored.")
    if ALEMBIC_TABLE not in _table_names(connection):
        raise BackupError(f"{backup} is a SQLite database but not a Backbone CRM backup: it has no {ALEMBIC_TABLE} table.")


def _integrity_problems(connection: sqlite3.Connection, pragma: str) -> list[str]:
    rows = [row[0] for row in connection.execute(f"PRAGMA {pragma}")]
    return [] if rows == ["ok"] else rows


def _table_names(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
    )
    return [row[0] for row in rows]


def _revision(connection: sqlite3.Connection) -> str | None:
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def _row_count(connection: sqlite3.Connection, table: str) -> int:
    quoted = '"' + table.replace('"', '""') + '"'  # a name from the file's own catalogue, quoted
    return connection.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]  # noqa: S608
