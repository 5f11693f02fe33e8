"""migrations/helpers.py: the enum CHECK that new revisions make again with one call, on the
test database (SQLite, or PostgreSQL with TEST_DATABASE_URL), inside the test's transaction."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from crm.database import one_of
from crm.extensions import db
from migrations.helpers import delete_rows_with_values, replace_enum_check

TABLE = "helper_things"


@pytest.fixture
def things(app):
    """A small table with an enum CHECK named as the models name theirs, and the op proxy bound."""
    connection = db.session.connection()
    metadata = sa.MetaData()
    sa.Table(
        TABLE, metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.CheckConstraint(one_of("kind", ["received", "routed"]), name=f"ck_{TABLE}_kind"),
    )
    metadata.create_all(connection)
    context = MigrationContext.configure(connection, opts={"render_as_batch": True})
    with Operations.context(context):
        yield connection


def insert(connection, kind: str) -> None:
    with connection.begin_nested():
        connection.execute(sa.text(f"INSERT INTO {TABLE} (kind) VALUES (:kind)"), {"kind": kind})  # noqa: S608


def kinds(connection) -> list[str]:
    return list(connection.execute(sa.text(f"SELECT kind FROM {TABLE} ORDER BY id")).scalars())  # noqa: S608


def test_a_widened_check_takes_the_new_value_and_still_refuses_others(things):
    with pytest.raises(IntegrityError):
        insert(things, "accepted")

    replace_enum_check(TABLE, "kind", ["received", "routed", "accepted"])

    insert(things, "accepted")
    with pytest.raises(IntegrityError):
        insert(things, "vanished")
    assert kinds(things) == ["accepted"]


def test_a_downgrade_deletes_the_dropped_values_then_narrows_the_check(things):
    replace_enum_check(TABLE, "kind", ["received", "routed", "accepted", "passed"])
    for kind in ("received", "accepted", "passed", "routed"):
        insert(things, kind)

    delete_rows_with_values(TABLE, "kind", ["accepted", "passed"])
    replace_enum_check(TABLE, "kind", ["received", "routed"])

    assert kinds(things) == ["received", "routed"]
    with pytest.raises(IntegrityError):
        insert(things, "accepted")
