"""availability: away note, contact topics, organisation backup

Revision ID: eb19e7103c4e
Revises: 88f43765427d
Create Date: 2026-12-03 03:26:07.345896

"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'eb19e7103c4e'
down_revision = '88f43765427d'
branch_labels = None
depends_on = None


FK_NAME = 'fk_organisations_backup_contact_id_contacts'


def _on_sqlite() -> bool:
    return op.get_bind().dialect.name == 'sqlite'


def _set_sqlite_foreign_keys(on: bool) -> None:
    # The pragma is ignored inside a transaction. The autocommit block commits the migration's
    # work so far, but the app's begin hook (crm._tune_sqlite) opens an empty BEGIN IMMEDIATE
    # even there; that one is ended at the driver, where the pragma then goes.
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
    """SQLite adds or drops a foreign key by copying the table (batch mode). With foreign keys
    enforced, dropping the old organisations table would first delete its rows: every
    contact's organisation set to NULL, the regions and counties served emptied."""
    _set_sqlite_foreign_keys(False)
    try:
        yield
    finally:
        _set_sqlite_foreign_keys(True)


def upgrade():
    op.create_table('contact_topics',
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_contact_topics_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['topic_id'], ['topics.id'], name=op.f('fk_contact_topics_topic_id_topics'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('contact_id', 'topic_id', name=op.f('pk_contact_topics'))
    )
    with op.batch_alter_table('contacts', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('away_note', sa.String(length=200), server_default='', nullable=False))

    if _on_sqlite():
        with _sqlite_foreign_keys_off():
            with op.batch_alter_table('organisations', schema=None, recreate='always') as batch_op:
                batch_op.add_column(sa.Column('backup_contact_id', sa.Integer(), nullable=True))
                batch_op.create_foreign_key(FK_NAME, 'contacts', ['backup_contact_id'], ['id'], ondelete='SET NULL')
    else:
        op.add_column('organisations', sa.Column('backup_contact_id', sa.Integer(), nullable=True))
        op.create_foreign_key(FK_NAME, 'organisations', 'contacts', ['backup_contact_id'], ['id'], ondelete='SET NULL')


def downgrade():
    if _on_sqlite():
        # SQLite drops no column that is part of a foreign key: the table is copied without it.
        with _sqlite_foreign_keys_off():
            with op.batch_alter_table('organisations', schema=None, recreate='always') as batch_op:
                batch_op.drop_constraint(FK_NAME, type_='foreignkey')
                batch_op.drop_column('backup_contact_id')
    else:
        op.drop_constraint(FK_NAME, 'organisations', type_='foreignkey')
        op.drop_column('organisations', 'backup_contact_id')

    with op.batch_alter_table('contacts', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('away_note')

    op.drop_table('contact_topics')
