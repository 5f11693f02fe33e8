"""merged records: contacts.merged_into_id and organisations.merged_into_id

A merged contact or organisation is kept (with its history) and points at the record it was
merged into (crm.merging). SQLite adds a foreign key by copying the table, with foreign keys
off so that nothing referring to it is emptied on the way.

Revision ID: 5d0c1f3a9e27
Revises: 5245dc9be1a4
Create Date: 2026-12-03 06:50:00.000000

"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '5d0c1f3a9e27'
down_revision = '5245dc9be1a4'
branch_labels = None
depends_on = None


TABLES = ('contacts', 'organisations')
# SQLite lists no index on an expression to a batch copy, so the copy of contacts loses this
# one (an active contact's email is unique ignoring case, revision 12a621244337): made again.
ACTIVE_EMAIL_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_contacts_active_email ON contacts (lower(email)) "
    "WHERE active AND email <> ''"
)


def _fk_name(table: str) -> str:
    return f'fk_{table}_merged_into_id_{table}'


def _on_sqlite() -> bool:
    return op.get_bind().dialect.name == 'sqlite'


def _set_sqlite_foreign_keys(on: bool) -> None:
    # The pragma is ignored inside a transaction; see revision eb19e7103c4e.
    with op.get_context().autocommit_block():
        driver_connection = op.get_bind().connection.dbapi_connection
        if driver_connection.in_transaction:
            driver_connection.execute('COMMIT')
        driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
        (now_on,) = driver_connection.execute('PRAGMA foreign_keys').fetchone()
        if bool(now_on) is not on:
            raise RuntimeError('could not switch SQLite foreign keys; stopping before any table is copied')


@contextmanager
def _sqlite_foreign_keys_off():
    _set_sqlite_foreign_keys(False)
    try:
        yield
    finally:
        _set_sqlite_foreign_keys(True)


def upgrade():
    if _on_sqlite():
        with _sqlite_foreign_keys_off():
            for table in TABLES:
                with op.batch_alter_table(table, schema=None, recreate='always') as batch_op:
                    batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
                    batch_op.create_foreign_key(_fk_name(table), table, ['merged_into_id'], ['id'], ondelete='SET NULL')
        op.execute(ACTIVE_EMAIL_INDEX)
    else:
        for table in TABLES:
            op.add_column(table, sa.Column('merged_into_id', sa.Integer(), nullable=True))
            op.create_foreign_key(_fk_name(table), table, table, ['merged_into_id'], ['id'], ondelete='SET NULL')
    for table in TABLES:
        op.create_index(op.f(f'ix_{table}_merged_into_id'), table, ['merged_into_id'], unique=False)


def downgrade():
    for table in TABLES:
        op.drop_index(op.f(f'ix_{table}_merged_into_id'), table_name=table)
    if _on_sqlite():
        with _sqlite_foreign_keys_off():
            for table in TABLES:
                with op.batch_alter_table(table, schema=None, recreate='always') as batch_op:
                    batch_op.drop_constraint(_fk_name(table), type_='foreignkey')
                    batch_op.drop_column('merged_into_id')
        op.execute(ACTIVE_EMAIL_INDEX)
    else:
        for table in TABLES:
            op.drop_constraint(_fk_name(table), table, type_='foreignkey')
            op.drop_column(table, 'merged_into_id')
