"""Backups restore: `flask crm backup`, `crm restore` and `crm verify-backup`, on SQLite and on
PostgreSQL, through the real commands and the real pg_dump and pg_restore.

A backup must see committed data, so these tests never use the per-test rolled-back connection
(tests/conftest.py): each database here is one of their own, a temporary SQLite file or, when
TEST_DATABASE_URL names PostgreSQL, a new database on that server, dropped afterwards. The
PostgreSQL cases are skipped otherwise.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from click.testing import Result
from flask import Flask
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from config import TestConfig
from crm import create_app
from crm.database import utcnow
from crm.demo import seed_demo
from crm.extensions import db
from crm.inquiries.intake import InquiryDetails, receive
from crm.models import EmailStatus, Inquiry, InquirySource, OutboundEmail, Region, Topic
from tests.naughty import naughty_strings

ROOT = Path(__file__).resolve().parent.parent
SQLITE_MAGIC = b"SQLite format 3\x00"  # the first bytes of every SQLite database file
BACKENDS = ["sqlite", "postgresql"]
DEMO_PASSWORD = "a demo password for backups"
# Values that a dump must carry through unchanged: line breaks, tabs and backslashes (which
# pg_dump escapes), a line that reads like the end of a COPY block, quotes and other scripts.
AWKWARD_MESSAGES = [
    "First line\nsecond line\r\nthird\tafter a tab",
    "A backslash \\ and a line that ends the COPY data:\n\\.\nand more after it",
    "Comillas 'simples' y \"dobles\"; ¿Dónde está la clínica? Ñandú 🍼",
    *[text for text in naughty_strings()[:40] if "\x00" not in text],
]


class Databases:
    """New databases of one kind for a test module, all removed at its end."""

    def __init__(self, kind: str, folder: Path, server_url: str) -> None:
        self.kind = kind
        self.folder = folder
        self.server_url = make_url(server_url)
        self.created: list[str] = []
        self.spare_empty_url: str | None = None

    def new_url(self, label: str) -> str:
        name = f"{label}_{secrets.token_hex(3)}"
        if self.kind == "sqlite":
            return f"sqlite:///{self.folder / name}.sqlite"
        name = f"{self.server_url.database}_{name}"
        with self._server() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def missing_url(self) -> str:
        """A database that does not exist: for SQLite, a file that is not a database."""
        if self.kind == "sqlite":
            path = self.folder / f"not_a_database_{secrets.token_hex(3)}.sqlite"
            path.write_text("These are notes, not a database.\n" * 200)
            return f"sqlite:///{path}"
        return self.server_url.set(database=f"{self.server_url.database}_never_created").render_as_string(
            hide_password=False
        )

    def drop_all(self) -> None:
        if not self.created:
            return
        with self._server() as connection:
            for name in self.created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    @contextmanager
    def _server(self):
        engine = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def databases(request: pytest.FixtureRequest, database_url: str, tmp_path_factory) -> Iterator[Databases]:
    if request.param == "postgresql" and make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL backups are tested when TEST_DATABASE_URL names a PostgreSQL database")
    made = Databases(request.param, tmp_path_factory.mktemp(f"backup_{request.param}"), database_url)
    yield made
    made.drop_all()


@contextmanager
def app_on(url: str) -> Iterator[Flask]:
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def migrate(app: Flask) -> None:
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        config.attributes["configure_logger"] = False  # keep pytest's logging
        command.upgrade(config, "head")


def add_inquiries_and_mail(app: Flask) -> None:
    """The demo data, plus inquiries whose text is awkward for a dump, and mail in every state."""
    with app.app_context():
        seed_demo(DEMO_PASSWORD, with_inquiries=True)
        topic = db.session.scalar(select(Topic).order_by(Topic.id).limit(1))
        for number, message in enumerate(AWKWARD_MESSAGES):
            details = InquiryDetails(
                name=f"Family {number} O'Brien-Núñez",
                email=f"family{number}@example.org",
                phone="573-555-0142" if number % 2 else "",
                zip_code="63857",
                topic=topic if number % 3 else None,
                language="es" if number % 2 else "en",
                message=message,
                consent=bool(number % 4),
                source=InquirySource.WEB,
            )
            receive(details, utcnow())
        emails = db.session.scalars(select(OutboundEmail).order_by(OutboundEmail.id)).all()
        emails[0].status, emails[0].sent_at, emails[0].attempts = EmailStatus.SENT, utcnow(), 1
        emails[1].status, emails[1].attempts = EmailStatus.DEAD, 8
        emails[1].last_error = "550 5.1.1 <family@example.org>: mailbox unavailable\n\tsecond line"
        db.session.commit()


def run_crm(app: Flask, *arguments: str) -> Result:
    """Run `flask crm ...` against ``app``; a traceback fails the test whatever the exit status."""
    result = app.test_cli_runner().invoke(args=["crm", *arguments])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def refused(app: Flask, *arguments: str, says: str) -> Result:
    result = run_crm(app, *arguments)
    assert result.exit_code == 1, result.output
    assert says in result.output
    return result


def flask_command(url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`flask --app wsgi ...` in its own process, as an operator runs it."""
    environment = {**os.environ, "CRM_ENV": "development", "DATABASE_URL": url}
    return subprocess.run(  # noqa: S603  (this interpreter, fixed arguments)
        [sys.executable, "-m", "flask", "--app", "wsgi", *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Per table: its row count and a digest of all its rows in primary-key order, as the driver
    returns them; on PostgreSQL also each sequence's position."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            quote = connection.dialect.identifier_preparer.quote
            inspector = inspect(connection)
            prints = {}
            for table in inspector.get_table_names():
                key = inspector.get_pk_constraint(table)["constrained_columns"]
                key = key or [column["name"] for column in inspector.get_columns(table)]
                order = ", ".join(quote(column) for column in key)
                digest = hashlib.sha256()
                count = 0
                for row in connection.exec_driver_sql(f"SELECT * FROM {quote(table)} ORDER BY {order}"):  # noqa: S608
                    digest.update(repr(tuple(row)).encode())
                    count += 1
                prints[table] = (count, digest.hexdigest())
            if connection.dialect.name == "postgresql":
                for name, position in connection.execute(text("SELECT sequencename, last_value FROM pg_sequences")):
                    prints[f"sequence {name}"] = (0, str(position))
    finally:
        engine.dispose()
    return prints


def table_names(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return inspect(connection).get_table_names()
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def source(databases: Databases) -> str:
    """A migrated database with the demo data, inquiries and mail: never changed by a test."""
    url = databases.new_url("source")
    with app_on(url) as app:
        migrate(app)
        add_inquiries_and_mail(app)
    return url


@pytest.fixture(scope="module")
def backup_file(databases: Databases, source: str, tmp_path_factory) -> Path:
    file = tmp_path_factory.mktemp("backups") / f"crm-{databases.kind}.backup"
    with app_on(source) as app:
        result = run_crm(app, "backup", str(file))
    assert result.exit_code == 0, result.output
    return file


@pytest.fixture
def empty_url(databases: Databases) -> Iterator[str]:
    """A new, empty database; one that a test left empty (a refused restore) serves the next
    test, as creating and dropping PostgreSQL databases is the slow part of this module."""
    url = databases.spare_empty_url or databases.new_url("empty")
    databases.spare_empty_url = None
    yield url
    if not table_names(url):
        databases.spare_empty_url = url


@pytest.fixture
def migrated_url(databases: Databases) -> str:
    url = databases.new_url("migrated")
    with app_on(url) as app:
        migrate(app)
    return url


def test_a_restored_backup_holds_every_row_of_every_table(source, backup_file, empty_url):
    with app_on(empty_url) as app:
        result = run_crm(app, "restore", str(backup_file))

    assert result.exit_code == 0, result.output
    restored, original = fingerprint(empty_url), fingerprint(source)
    assert restored == original
    assert original["alembic_version"][0] == 1
    assert original["inquiries"][0] >= len(AWKWARD_MESSAGES)
    assert original["outbound_emails"][0] >= 2


def test_migrations_see_a_restored_database_at_head(backup_file, empty_url):
    with app_on(empty_url) as app:
        assert run_crm(app, "restore", str(backup_file)).exit_code == 0

    check = flask_command(empty_url, "db", "check")
    upgrade = flask_command(empty_url, "db", "upgrade")

    assert check.returncode == 0, check.stderr
    assert upgrade.returncode == 0, upgrade.stderr
    assert "Running upgrade" not in upgrade.stderr


def test_the_app_goes_on_writing_to_a_restored_database(backup_file, empty_url):
    """New rows get new ids: the restore carried the sequences (PostgreSQL) along with the rows."""
    with app_on(empty_url) as app:
        assert run_crm(app, "restore", str(backup_file)).exit_code == 0
        with app.app_context():
            before = db.session.scalar(select(func.count()).select_from(Inquiry))
            details = InquiryDetails("New Family", "new@example.org", "", "63857", None, "en", "Hello", True)
            receive(details, utcnow())

            assert db.session.scalar(select(func.count()).select_from(Inquiry)) == before + 1


def test_verify_lists_every_table_with_its_rows(source, backup_file):
    with app_on(source) as app:
        result = run_crm(app, "verify-backup", str(backup_file))

    assert result.exit_code == 0, result.output
    listed = {name: int(count.replace(",", "")) for name, count in re.findall(r"^(\w+) +([\d,]+)$", result.output, re.M)}
    tables = {name: count for name, (count, _digest) in fingerprint(source).items() if not name.startswith("sequence ")}
    assert listed == tables
    assert "this code's latest migration" in result.output


def test_a_backup_is_never_written_over_an_existing_file_without_force(source, tmp_path):
    file = tmp_path / "crm.backup"
    file.write_bytes(b"last night's backup")

    with app_on(source) as app:
        refused(app, "backup", str(file), says="already exists")
        assert file.read_bytes() == b"last night's backup"

        replaced = run_crm(app, "backup", "--force", str(file))
        assert replaced.exit_code == 0, replaced.output
        assert run_crm(app, "verify-backup", str(file)).exit_code == 0
    assert sorted(tmp_path.iterdir()) == [file]


def test_a_failed_backup_leaves_no_file_and_keeps_the_old_one(databases, tmp_path):
    new_file, old_file = tmp_path / "new.backup", tmp_path / "old.backup"
    old_file.write_bytes(b"last night's backup")

    with app_on(databases.missing_url()) as app:
        # What the failure says is the database's own wording.
        results = [run_crm(app, "backup", str(new_file)), run_crm(app, "backup", "--force", str(old_file))]

    assert [result.exit_code for result in results] == [1, 1], [result.output for result in results]
    assert sorted(tmp_path.iterdir()) == [old_file]
    assert old_file.read_bytes() == b"last night's backup"


def test_a_backup_is_written_readable_by_its_owner_only(backup_file):
    assert backup_file.stat().st_mode & 0o777 == 0o600


def test_restore_into_a_database_that_cannot_be_opened_says_so(databases, backup_file):
    with app_on(databases.missing_url()) as app:
        refused(app, "restore", str(backup_file), says="Error: ")


def test_restore_refuses_a_database_that_has_tables(backup_file, migrated_url):
    before = fingerprint(migrated_url)

    with app_on(migrated_url) as app:
        refused(app, "restore", str(backup_file), says="already has")

    assert fingerprint(migrated_url) == before


@pytest.fixture(scope="module")
def other_kind_of_backup(databases: Databases, tmp_path_factory) -> Path:
    """A backup of the other kind of database: a real SQLite backup for PostgreSQL; for SQLite,
    a file that begins as pg_dump's custom format does (no PostgreSQL server may be at hand)."""
    folder = tmp_path_factory.mktemp("other_kind")
    if databases.kind == "sqlite":
        file = folder / "crm.dump"
        file.write_bytes(b"PGDMP\x01\x0e\x00\x04\x08\x01\x01\x01" + bytes(200))
        return file
    file = folder / "crm.sqlite"
    with app_on(f"sqlite:///{folder / 'source.sqlite'}") as app:
        migrate(app)
        assert run_crm(app, "backup", str(file)).exit_code == 0
    return file


def test_restore_refuses_a_backup_of_the_other_kind_of_database(databases, other_kind_of_backup, empty_url):
    with app_on(empty_url) as app:
        result = refused(app, "restore", str(other_kind_of_backup), says="but the configured database is")

    assert ("SQLite" if databases.kind == "sqlite" else "PostgreSQL") in result.output
    assert table_names(empty_url) == []


@pytest.fixture
def not_a_backup(request: pytest.FixtureRequest, backup_file: Path, tmp_path: Path) -> tuple[Path, str]:
    """A file that is no backup, and what the refusal says."""
    kind = request.param
    file = tmp_path / f"{kind}.backup"
    if kind == "missing":
        return file, "does not exist"
    if kind == "empty":
        file.touch()
        return file, "is not a Backbone CRM backup"
    if kind == "text":
        file.write_text("name,email\nFamily,family@example.org\n")
        return file, "is not a Backbone CRM backup"
    if kind == "folder":
        file.mkdir()
        return file, "is a folder"
    if kind == "cut":  # cut short near its end, as by a full disk: its table of contents still reads
        file.write_bytes(backup_file.read_bytes()[: backup_file.stat().st_size * 9 // 10])
        return file, "Error: "
    raise AssertionError(kind)


NOT_BACKUPS = ["missing", "empty", "text", "folder", "cut"]


@pytest.mark.parametrize("not_a_backup", NOT_BACKUPS, indirect=True)
def test_restore_refuses_what_is_not_a_whole_backup(not_a_backup, empty_url):
    file, message = not_a_backup

    with app_on(empty_url) as app:
        refused(app, "restore", str(file), says=message)

    assert table_names(empty_url) == []


@pytest.mark.parametrize("not_a_backup", NOT_BACKUPS, indirect=True)
def test_verify_refuses_what_is_not_a_whole_backup(not_a_backup, source):
    file, message = not_a_backup

    with app_on(source) as app:
        refused(app, "verify-backup", str(file), says=message)


def test_a_sqlite_database_of_another_application_is_not_a_backup(databases, empty_url, tmp_path):
    if databases.kind != "sqlite":
        pytest.skip("PostgreSQL refuses any SQLite file for its kind (see above)")
    other = tmp_path / "other.sqlite"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    connection.close()

    with app_on(empty_url) as app:
        refused(app, "restore", str(other), says="not a Backbone CRM backup")
        refused(app, "verify-backup", str(other), says="not a Backbone CRM backup")

    assert table_names(empty_url) == []


def test_a_backup_taken_while_the_app_writes_is_whole(databases, migrated_url, tmp_path):
    """The app and the mail worker write while a backup runs: the backup neither fails nor
    stops them, and holds a consistent state (an unbroken run of the rows written so far)."""
    with app_on(migrated_url) as app:
        started, stop, failures = threading.Event(), threading.Event(), []

        def write_regions() -> None:
            number = 0
            try:
                with app.app_context():
                    while not stop.is_set():
                        db.session.add(Region(name=f"Region {number:06d}"))
                        db.session.commit()
                        number += 1
                        started.set()
            except Exception as error:  # noqa: BLE001  (reported by the assertion below)
                failures.append(error)
                started.set()

        writer = threading.Thread(target=write_regions)
        writer.start()
        try:
            started.wait()
            results = [run_crm(app, "backup", str(tmp_path / f"during-{n}.backup")) for n in range(2)]
        finally:
            stop.set()
            writer.join()

        assert failures == []
        assert [result.exit_code for result in results] == [0, 0], [result.output for result in results]
        for n in range(2):
            restored = databases.new_url(f"during{n}")
            with app_on(restored) as restored_app:
                assert run_crm(restored_app, "restore", str(tmp_path / f"during-{n}.backup")).exit_code == 0
                with restored_app.app_context():
                    names = db.session.scalars(select(Region.name).order_by(Region.name)).all()
            assert names == [f"Region {number:06d}" for number in range(len(names))]


def test_sqlite_refuses_to_write_a_backup_over_the_database_itself(databases, source):
    if databases.kind != "sqlite":
        pytest.skip("SQLite only")
    database = Path(make_url(source).database)
    before = fingerprint(source)

    with app_on(source) as app:
        refused(app, "backup", "--force", str(database), says="is the database itself")
        refused(app, "backup", "--force", f"{database}-wal", says="is the database itself")

    assert fingerprint(source) == before


def test_an_in_memory_database_has_nothing_to_back_up_or_restore_into(tmp_path):
    backup = tmp_path / "crm.backup"
    backup.write_bytes(SQLITE_MAGIC + bytes(84))

    with app_on("sqlite://") as app:
        refused(app, "backup", str(tmp_path / "memory.backup"), says="in-memory")
        refused(app, "restore", str(backup), says="in-memory")

    assert list(tmp_path.iterdir()) == [backup]
