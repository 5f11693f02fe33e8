"""What revisions that change an enum's values do again and again, written once.

An enum column (crm.database.enum_column) is a plain string column with a CHECK over its
values, ``ck_<table>_<column>``; a new value in the model needs a revision that makes that
CHECK again, on SQLite by copying the table (batch mode). Released revisions keep their own
copies of this code (a released revision is never edited); new ones import it:

    from migrations.helpers import delete_rows_with_values, replace_enum_check, sqlite_foreign_keys_off

    EVENT_KINDS_BEFORE = [...]  # the model's values as of the previous revision
    EVENT_KINDS = EVENT_KINDS_BEFORE + ["new_kind"]

    def upgrade():
        sqlite_foreign_keys_off()
        replace_enum_check("inquiry_events", "kind", EVENT_KINDS)

    def downgrade():
        sqlite_foreign_keys_off()
        delete_rows_with_values("inquiry_events", "kind", ["new_kind"])
        replace_enum_check("inquiry_events", "kind", EVENT_KINDS_BEFORE)

The lists are written out in the revision, never read from the models: a revision must do
the same thing whatever the models say later.
"""

from __future__ import annotations

from collections.abc import Iterable

from alembic import op
from sqlalchemy import bindparam, text

from crm.database import one_of


def sqlite_foreign_keys_off() -> None:
    """Copying a table that others refer to (inquiries, inquiry_events...) with SQLite's foreign
    keys on would delete or NULL the referring rows: turn them off first, at the driver and
    outside a transaction (as 12a621244337 explains). migrations/env.py turns them on again and
    checks every key afterwards. Nothing on PostgreSQL."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    driver_connection = bind.connection.dbapi_connection
    if driver_connection.in_transaction:
        driver_connection.execute("COMMIT")
    driver_connection.execute("PRAGMA foreign_keys=OFF")
    if driver_connection.execute("PRAGMA foreign_keys").fetchone()[0]:
        raise RuntimeError("could not turn SQLite foreign keys off; stopping before any table is copied")


def replace_enum_check(table: str, column: str, values: Iterable[str]) -> None:
    """Make the enum CHECK ``ck_<table>_<column>`` again over exactly `values`."""
    name = f"ck_{table}_{column}"
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(name), type_="check")
        batch_op.create_check_constraint(batch_op.f(name), one_of(column, values))


def delete_rows_with_values(table: str, column: str, values: Iterable[str]) -> None:
    """A downgrade's first step before narrowing a CHECK: the rows holding the values it drops."""
    statement = text(f"DELETE FROM {table} WHERE {column} IN :values")  # noqa: S608  (names are the revision's own)
    op.execute(statement.bindparams(bindparam("values", list(values), expanding=True)))
