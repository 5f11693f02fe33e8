"""What a backup file is, what it holds, and writing one so that it appears whole or not at all."""

from __future__ import annotations

import contextlib
import enum
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL

# The first bytes of each kind of file, as SQLite and pg_restore themselves recognise them.
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
ALEMBIC_TABLE = "alembic_version"


class BackupError(Exception):
    """A refusal or a failure, said in a sentence or two: the commands print it, never a traceback."""


class Kind(enum.StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"

    @property
    def database_name(self) -> str:
        return "SQLite" if self is Kind.SQLITE else "PostgreSQL"

    @property
    def file_description(self) -> str:
        return "a SQLite database" if self is Kind.SQLITE else "a PostgreSQL dump (pg_dump custom format)"


@dataclass(frozen=True)
class Contents:
    """What a backup holds: rows per table, the schema's Alembic revision, and facts about the file."""

    kind: Kind
    row_counts: dict[str, int]
    revision: str | None
    facts: list[str] = field(default_factory=list)


def kind_of_database(url: URL) -> Kind:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return Kind.SQLITE
    if backend == "postgresql":
        return Kind.POSTGRESQL
    raise BackupError(f"Backups cover SQLite and PostgreSQL databases; the configured database is {backend}.")


def kind_of_file(path: Path) -> Kind:
    """The kind of backup ``path`` is, or a BackupError that says why it is none."""
    if not path.exists():
        raise BackupError(f"{path} does not exist.")
    if path.is_dir():
        raise BackupError(f"{path} is a folder, not a backup file.")
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_MAGIC))
    except OSError as error:
        raise BackupError(f"{path} cannot be read: {error.strerror}.") from None
    if head.startswith(SQLITE_MAGIC):
        return Kind.SQLITE
    if head.startswith(PG_CUSTOM_MAGIC):
        return Kind.POSTGRESQL
    raise BackupError(
        f"{path} is not a Backbone CRM backup: it is neither a SQLite database nor a PostgreSQL dump "
        "in pg_dump's custom format."
    )


def refuse_other_kind(path: Path, file_kind: Kind, database_kind: Kind) -> None:
    if file_kind is not database_kind:
        raise BackupError(
            f"{path} is {file_kind.file_description}, but the configured database is {database_kind.database_name}: "
            f"restore it into a {file_kind.database_name} database (set DATABASE_URL to one)."
        )


def check_output(target: Path, force: bool) -> None:
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist.")
    if target.is_dir():
        raise BackupError(f"{target} is a folder; name the backup file to write.")
    if target.exists() and not force:
        raise BackupError(f"{target} already exists: choose another name, or add --force to replace it.")


@contextlib.contextmanager
def written_whole(target: Path, force: bool) -> Iterator[Path]:
    """A temporary path next to ``target`` to write the backup to; moved to ``target`` only when the
    block finishes, so a failed or interrupted backup never leaves a half-written file under the
    final name (an interrupted process can leave the hidden ``.<name>.*.partial`` file).

    The file is created readable by its owner only: a backup holds every inquiry."""
    check_output(target, force)
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    except OSError as error:
        raise BackupError(f"Cannot write in {target.parent}: {error.strerror}.") from None
    os.close(handle)
    partial = Path(name)
    try:
        yield partial
        _flush_to_disk(partial)
        if target.exists() and not force:
            raise BackupError(f"{target} appeared while the backup was written; it was left as it is.")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _flush_to_disk(target.parent)


def _flush_to_disk(path: Path) -> None:
    # The rename is only durable once the file's data and then the folder entry are on disk.
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
