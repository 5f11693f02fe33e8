"""The migrations build exactly the schema the models describe (`flask db check`, in the suite).

Each test gets a database of its own: a temporary SQLite file, or, when TEST_DATABASE_URL
names PostgreSQL, a fresh schema selected through the connection's search_path and dropped
afterwards. The shared test schema (tests/conftest.py) is never touched.
"""

from __future__ import annotations

import pprint
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateIndex

from config import TestConfig
from crm import create_app
from crm.extensions import db
from crm.models import open_load
from crm.models.inquiry import SEARCH_PENDING_LIST_KB
from crm.models.inquiry_status import OPEN_STATUS_ORDER
from crm.schema import schema_on
from tests.fixtures_database import database_of_its_own

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@dataclass
class FreshDatabase:
    url: str
    engine_options: dict


@pytest.fixture
def fresh_database(database_url: str, tmp_path: Path) -> Iterator[FreshDatabase]:
    if make_url(database_url).get_backend_name() == "sqlite":
        yield FreshDatabase(f"sqlite:///{tmp_path / 'migrations.sqlite'}", {})
        return
    schema = f"migrations_{secrets.token_hex(4)}"
    admin = create_engine(database_url)
    with admin.begin() as connection:
        # Where a database's owner running the migrations has it: in public. Made first by a
        # migration here instead, it would land in this schema, and a test that then builds
        # the models' tables in another (which name public.gin_trgm_ops) would fail, as when
        # this module runs alone on a fresh database.
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield FreshDatabase(database_url, {"connect_args": {"options": f"-c search_path={schema}"}})
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def migrated_app(fresh_database: FreshDatabase) -> Iterator[Flask]:
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=fresh_database.url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, **fresh_database.engine_options},
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def alembic_config() -> AlembicConfig:
    from flask import current_app

    config = current_app.extensions["migrate"].migrate.get_config()
    # env.py would otherwise load alembic.ini's logging setup over pytest's.
    config.attributes["configure_logger"] = False
    return config


def schema_diff() -> list:
    """How the migrated database differs from the models as this database holds them (without
    PostgreSQL's trigram indexes on SQLite), as `flask db check` compares them."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, schema_on(db.metadata, connection.dialect.name))


def assert_no_drift() -> None:
    diff = schema_diff()
    assert diff == [], (
        "The migrations and the models differ; generate a migration with "
        '`make migration m="..."` and review it:\n' + pprint.pformat(diff)
    )


def table_names() -> set[str]:
    with db.engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def test_one_head() -> None:
    script = ScriptDirectory.from_config(_script_config())
    heads = script.get_heads()
    assert len(heads) == 1, f"migrations have {len(heads)} heads {heads}: merge them (flask db merge heads)"


def _script_config() -> AlembicConfig:
    config = AlembicConfig(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def test_upgrade_to_head_matches_the_models(migrated_app: Flask) -> None:
    command.upgrade(alembic_config(), "head")

    assert_no_drift()
    assert set(db.metadata.tables) <= table_names()


def _search_index_options() -> dict[str, list[str] | None]:
    query = text("SELECT relname, reloptions FROM pg_class WHERE relname LIKE 'ix_inquiries_search_%' ORDER BY relname")
    with db.engine.connect() as connection:
        return dict(connection.execute(query).all())


def test_the_search_indexes_keep_a_small_pending_list(migrated_app: Flask) -> None:
    """Set by a migration and by the models alike (the comparison above cannot see an index's
    storage parameters): a post that fills the list merges it, and a search reads all of it."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's trigram indexes")
    command.upgrade(alembic_config(), "head")
    migrated = _search_index_options()
    assert sorted(migrated) == [f"ix_inquiries_search_{column}" for column in ("email", "message", "name", "reference")]
    assert all(options == [f"gin_pending_list_limit={SEARCH_PENDING_LIST_KB}"] for options in migrated.values()), migrated
    # What create_all would send (tests, the bench): compiled, not run, since the models name
    # pg_trgm's operator class in public, where this fresh database may not have it yet.
    searched = [index for index in db.metadata.tables["inquiries"].indexes if index.name in migrated]
    assert len(searched) == len(migrated)
    for index in searched:
        ddl = str(CreateIndex(index).compile(dialect=db.engine.dialect))
        assert ddl.endswith(f"WITH (gin_pending_list_limit = {SEARCH_PENDING_LIST_KB})"), ddl


def test_downgrade_to_base_and_back(migrated_app: Flask) -> None:
    config = alembic_config()
    command.upgrade(config, "head")

    command.downgrade(config, "base")

    assert table_names() <= {"alembic_version"}, f"left behind by downgrade: {table_names() - {'alembic_version'}}"
    command.upgrade(config, "head")
    assert_no_drift()


def test_revisions_import_the_types_they_use() -> None:
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        for module in set(re.findall(r"\b(crm(?:\.\w+)+)\.[A-Z]\w*\(", source)):
            assert f"import {module}" in source, f"{path.name} uses {module} without importing it"


def test_backup_contact_revision_keeps_what_refers_to_organisations(migrated_app: Flask) -> None:
    """Adding organisations.backup_contact_id copies the table on SQLite; with foreign keys on,
    dropping the old copy would null every contact's organisation and empty the regions served."""
    config = alembic_config()
    before = ScriptDirectory.from_config(_script_config()).get_revision("eb19e7103c4e").down_revision
    command.upgrade(config, before)
    with db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO organisations (id, name, name_key, kind, description, description_es, website, email, phone,"
            " address_line, city, state, postal_code, status, created_at, updated_at) VALUES (1, 'A', 'a', 'grantee',"
            " '', '', '', '', '', '', '', 'MO', '', 'active', '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
        ))
        connection.execute(text("INSERT INTO regions (id, name) VALUES (1, 'Bootheel')"))
        connection.execute(text("INSERT INTO organisation_regions (organisation_id, region_id) VALUES (1, 1)"))
        connection.execute(text(
            "INSERT INTO contacts (id, name, organisation_id, title, email, phone, languages, roles, show_on_public_page,"
            " notes, active, accepts_inquiries, is_inquiry_fallback, created_at, updated_at) VALUES (1, 'C', 1, '', '',"
            " '', '[]', '[]', false, '', true, true, false, '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
        ))

    def kept() -> tuple:
        with db.engine.connect() as connection:
            return (
                connection.scalar(text("SELECT organisation_id FROM contacts WHERE id = 1")),
                connection.scalar(text("SELECT count(*) FROM organisation_regions")),
            )

    command.upgrade(config, "head")
    assert kept() == (1, 1)
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE organisations SET backup_contact_id = 1"))
    command.downgrade(config, before)
    assert kept() == (1, 1)


# --- contact_preference (revision c577800cdcbd) -------------------------------------------

BEFORE_CONTACT_PREFERENCE = "882135b53874"


def _insert(connection, table: str, **values) -> None:
    """A row with `values` and something of the right type in every other required column."""
    fillers = {"INTEGER": 0, "BOOLEAN": False, "FLOAT": 0.0, "JSON": "{}"}
    row = dict(values)
    for column in inspect(connection).get_columns(table):
        if column["name"] in row or column["nullable"] or column.get("autoincrement") is True:
            continue
        if column["name"] == "id":
            continue
        kind = type(column["type"]).__name__.upper()
        if "TIME" in kind:
            row[column["name"]] = "2026-01-05 15:00:00"
        else:
            row[column["name"]] = next((value for name, value in fillers.items() if name in kind), "x")
    names = ", ".join(row)
    placeholders = ", ".join(":" + name for name in row)
    connection.execute(text(f"INSERT INTO {table} ({names}) VALUES ({placeholders})"), row)  # noqa: S608  (names from the schema)


def test_contact_preference_keeps_every_row_and_answers_phone_only_requests_by_phone(migrated_app: Flask) -> None:
    config = alembic_config()
    command.upgrade(config, BEFORE_CONTACT_PREFERENCE)
    with db.engine.begin() as connection:
        _insert(connection, "inquiries", id=1, reference="IM-EMAIL1", email="a@example.org", phone="", source="web", status="new", language="en")
        _insert(connection, "inquiries", id=2, reference="IM-PHONE1", email="", phone="(573) 555-0142", source="phone", status="new", language="es")
        _insert(connection, "inquiry_events", inquiry_id=1, kind="received", detail="Received")
        _insert(connection, "inquiry_events", inquiry_id=2, kind="received", detail="Received")

    command.upgrade(config, "head")

    with db.engine.connect() as connection:
        preferences = dict(connection.execute(text("SELECT reference, contact_preference FROM inquiries")).all())
        events = connection.execute(text("SELECT count(*) FROM inquiry_events")).scalar()
    # The table copy on SQLite must not take the timeline with the old table.
    assert (preferences, events) == ({"IM-EMAIL1": "email", "IM-PHONE1": "phone"}, 2)
    assert_no_drift()


# --- hours to acceptance of rows accepted before they were stored (revision fcd878707e40) ----------

BEFORE_ACCEPTANCE_HOURS_BACKFILL = "5d0c1f3a9e27"


def test_acceptances_at_receipt_get_zero_hours_and_the_others_are_left_to_the_report(migrated_app: Flask) -> None:
    config = alembic_config()
    command.upgrade(config, BEFORE_ACCEPTANCE_HOURS_BACKFILL)
    with db.engine.begin() as connection:
        received = "2026-01-05 15:00:00"
        for number, accepted in ((1, received), (2, "2026-01-06 15:00:00"), (3, None)):
            _insert(
                connection,
                "inquiries",
                id=number,
                reference=f"IM-ACCEPT{number}",
                email=f"family{number}@example.org",
                source="web",
                status="new",
                language="en",
                contact_preference="email",
                received_at=received,
                accepted_at=accepted,
            )

    command.upgrade(config, "head")

    with db.engine.connect() as connection:
        hours = dict(connection.execute(text("SELECT reference, accepted_after_hours FROM inquiries")).all())
    assert hours == {"IM-ACCEPT1": 0.0, "IM-ACCEPT2": None, "IM-ACCEPT3": None}
    assert_no_drift()


# --- triggers: the migrated head holds the models' (revision bf61c2a7d940 made the first) -----


def triggers_of(connection) -> dict[str, str]:
    """Each trigger of the connected database by name: its definition (and on PostgreSQL its
    function's body), with runs of white space made one, since the migrations write them out
    by hand. The schema comparison above does not see triggers."""
    if connection.dialect.name == "sqlite":
        query = text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    else:
        query = text(
            # Without the schema the definition names: each test's database is a schema of its own.
            "SELECT trigger.tgname, replace(pg_get_triggerdef(trigger.oid), quote_ident(current_schema()) || '.', '')"
            " || ' ' || function.prosrc FROM pg_trigger AS trigger"
            " JOIN pg_class AS owner ON owner.oid = trigger.tgrelid JOIN pg_proc AS function ON function.oid = trigger.tgfoid"
            " WHERE NOT trigger.tgisinternal AND owner.relnamespace = current_schema()::regnamespace"
        )
    return {name: " ".join(definition.split()) for name, definition in connection.execute(query)}


def test_upgrade_to_head_has_the_models_triggers(migrated_app: Flask, database_url: str, tmp_path: Path) -> None:
    """A revision that loses a trigger (on SQLite a batch operation copies the table without
    its triggers) or a model whose triggers no revision made both fail here."""
    command.upgrade(alembic_config(), "head")
    with db.engine.connect() as connection:
        migrated = triggers_of(connection)
    with database_of_its_own(database_url, tmp_path, "models") as (url, options):
        engine = create_engine(url, **options)
        try:
            db.metadata.create_all(engine)
            with engine.connect() as connection:
                modelled = triggers_of(connection)
        finally:
            engine.dispose()

    assert set(open_load.TRIGGERS) <= set(migrated), f"missing at head: {set(open_load.TRIGGERS) - set(migrated)}"
    assert migrated == modelled


def test_the_open_load_triggers_at_head_count_the_open_statuses_of_the_models(migrated_app: Flask) -> None:
    """OPEN_STATUSES changed without a revision that writes the triggers again (and recounts)
    would leave the database counting the old ones."""
    command.upgrade(alembic_config(), "head")
    with db.engine.connect() as connection:
        definitions = [triggers_of(connection)[name] for name in open_load.TRIGGERS]
    listed = {match for definition in definitions for match in re.findall(r"status IN \(([^)]*)\)", definition)}
    expected = ", ".join(f"'{status.value}'" for status in OPEN_STATUS_ORDER)
    assert listed == {expected}, "the open statuses changed: write a revision that makes the triggers again and recounts"


BEFORE_OPEN_LOADS = "d8c354747da8"


def test_open_loads_are_counted_from_the_inquiries_there_are(migrated_app: Flask) -> None:
    config = alembic_config()
    command.upgrade(config, BEFORE_OPEN_LOADS)
    with db.engine.begin() as connection:
        for contact_id in (1, 2, 3):
            _insert(connection, "contacts", id=contact_id, name=f"C{contact_id}", languages="[]", roles="[]")
        rows = [(1, "new"), (1, "in_progress"), (1, "closed"), (2, "spam"), (2, "responded"), (3, "closed"), (None, "new")]
        for number, (contact_id, status) in enumerate(rows, start=1):
            _insert(
                connection,
                "inquiries",
                id=number,
                reference=f"IM-LOAD{number}",
                email="family@example.org",
                source="web",
                status=status,
                language="en",
                contact_preference="email",
                assigned_contact_id=contact_id,
                outcome="not_needed" if status == "closed" else None,
            )

    command.upgrade(config, "head")

    with db.engine.begin() as connection:
        counts = dict(connection.execute(text("SELECT contact_id, open_inquiries FROM contact_open_loads")).all())
        assert counts == {1: 2, 2: 1}
        # ...and kept from then on, by the triggers the revision made.
        connection.execute(text("UPDATE inquiries SET assigned_contact_id = 3 WHERE id IN (1, 5, 6)"))
        counts = dict(connection.execute(text("SELECT contact_id, open_inquiries FROM contact_open_loads")).all())
    assert counts == {1: 1, 2: 0, 3: 2}


# --- acceptance moves awaiting the managers' notice (revision 6b1e4d7a9c35) -----------------------

BEFORE_NOTICE_PENDING = "bf61c2a7d940"


def test_the_acceptance_jobs_earlier_moves_are_marked_told_and_a_persons_passes_left_alone(migrated_app: Flask) -> None:
    """The job's moves before this revision were told in their run (or never will be): the
    first run after it must not tell the managers of them again."""
    config = alembic_config()
    command.upgrade(config, BEFORE_NOTICE_PENDING)
    with db.engine.begin() as connection:
        _insert(connection, "contacts", id=1, name="C1", languages="[]", roles="[]")
        _insert(
            connection, "inquiries", id=1, reference="IM-PASSED1", email="family@example.org", source="web",
            status="assigned", language="en", contact_preference="email", assigned_contact_id=1,
        )
        for number, (reason, passed_at) in enumerate(
            (("not_accepted_in_time", "2026-01-05 19:00:00"), ("no_capacity", "2026-01-06 15:00:00")), start=1
        ):
            _insert(connection, "inquiry_passes", id=number, inquiry_id=1, contact_id=1, reason=reason, note="", passed_at=passed_at)

    command.upgrade(config, "head")

    with db.engine.connect() as connection:
        told = dict(connection.execute(text("SELECT reason, managers_told_at FROM inquiry_passes")).all())
    assert {reason: str(value)[:19] if value else None for reason, value in told.items()} == {
        "not_accepted_in_time": "2026-01-05 19:00:00",
        "no_capacity": None,
    }
    assert_no_drift()


BEFORE_HIDDEN_TOKENS = "6b1e4d7a9c35"


def test_sign_in_links_sent_before_lose_their_token_and_the_others_keep_theirs(migrated_app: Flask) -> None:
    """Rows sent or dead before the runner hid their tokens must not keep a working sign-in
    link in a backup; a pending one still has to be sent, and other kinds are not touched."""
    config = alembic_config()
    command.upgrade(config, BEFORE_HIDDEN_TOKENS)
    link = "https://crm.example.org/invitations/accept?token=Abc-123_xyz&lang=en"
    rows = {
        1: ("invitation", "sent"),
        2: ("password_reset", "dead"),
        3: ("password_reset", "pending"),
        4: ("contact_notice", "sent"),
    }
    with db.engine.begin() as connection:
        for email_id, (kind, status) in rows.items():
            _insert(
                connection, "outbound_emails", id=email_id, message_id=f"<{email_id}@example.org>", kind=kind,
                to_address="someone@example.org", subject="s", body_text=f"Open:\n{link}\n", status=status,
                last_error="", language="en",
            )

    command.upgrade(config, "head")

    with db.engine.connect() as connection:
        bodies = dict(connection.execute(text("SELECT id, body_text FROM outbound_emails")).all())
    hidden = "Open:\nhttps://crm.example.org/invitations/accept?token=(hidden)&lang=en\n"
    assert bodies == {1: hidden, 2: hidden, 3: f"Open:\n{link}\n", 4: f"Open:\n{link}\n"}
    assert_no_drift()
