"""the family closes the loop: follow-up columns, family_opt_outs, new event and email kinds

- inquiries.follow_up_sent_at (one follow-up per inquiry), family_confirmed and
  family_answered_at (the family's yes or no, at most once; ck_inquiries_family_answer), and a
  partial index of the closed inquiries not yet followed up, by closed_at;
- family_opt_outs: the SHA-256 of each lower-cased address that asked for no more messages;
- the CHECKs of inquiry_events.kind and outbound_emails.kind are made again with the new kinds
  (family_confirmed, family_needs_help; family_follow_up, family_reopened).

Revision ID: d8d70e6d9599
Revises: 53b8580be86b
Create Date: 2026-12-03 04:03:38.628221

"""
from alembic import op
import sqlalchemy as sa
import crm.database

# revision identifiers, used by Alembic.
revision = 'd8d70e6d9599'
down_revision = '53b8580be86b'
branch_labels = None
depends_on = None

# Every value of each enum as of this revision, and as of the one before (for downgrade).
EVENT_KINDS = [
    'received', 'routed', 'email_queued', 'email_sent', 'email_failed', 'viewed', 'assigned',
    'status_changed', 'note', 'response', 'linked', 'reminder', 'escalated', 'anonymised',
    'family_confirmed', 'family_needs_help',
]
EMAIL_KINDS = [
    'contact_notice', 'reassigned_notice', 'requester_ack', 'sla_reminder', 'sla_escalation',
    'invitation', 'password_reset', 'family_follow_up', 'family_reopened',
]
NEW_VALUES = {
    ('inquiry_events', 'kind'): ['family_confirmed', 'family_needs_help'],
    ('outbound_emails', 'kind'): ['family_follow_up', 'family_reopened'],
}
FAMILY_ANSWER = (
    "(family_confirmed IS NULL AND family_answered_at IS NULL)"
    " OR (family_confirmed IS NOT NULL AND family_answered_at IS NOT NULL AND follow_up_sent_at IS NOT NULL)"
)
FOLLOW_UP_PENDING = "status = 'closed' AND follow_up_sent_at IS NULL"


def one_of(column, values):
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({listed})"


def sqlite_foreign_keys_off():
    """Adding a CHECK on SQLite copies the table; inquiries is referred to by the timeline and
    the outbox (ON DELETE CASCADE / SET NULL), so the copy must run with foreign keys off, as
    12a621244337 explains. migrations/env.py turns them on again and checks every key after
    the run."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return
    driver_connection = bind.connection.dbapi_connection
    if driver_connection.in_transaction:
        driver_connection.execute('COMMIT')
    driver_connection.execute('PRAGMA foreign_keys=OFF')
    if driver_connection.execute('PRAGMA foreign_keys').fetchone()[0]:
        raise RuntimeError('could not turn SQLite foreign keys off; stopping before any table is copied')


def replace_kind_check(table, values):
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(f'ck_{table}_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f(f'ck_{table}_kind'), one_of('kind', values))


def upgrade():
    sqlite_foreign_keys_off()
    op.create_table('family_opt_outs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', crm.database.UTCDateTime(), nullable=False),
    sa.CheckConstraint('length(email_hash) = 64', name=op.f('ck_family_opt_outs_email_hash_is_sha256')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_family_opt_outs')),
    sa.UniqueConstraint('email_hash', name=op.f('uq_family_opt_outs_email_hash'))
    )
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('follow_up_sent_at', crm.database.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('family_confirmed', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('family_answered_at', crm.database.UTCDateTime(), nullable=True))
        batch_op.create_check_constraint(batch_op.f('ck_inquiries_family_answer'), FAMILY_ANSWER)
        batch_op.create_index(
            'ix_inquiries_follow_up_due', ['closed_at'], unique=False,
            postgresql_where=sa.text(FOLLOW_UP_PENDING), sqlite_where=sa.text(FOLLOW_UP_PENDING),
        )
    replace_kind_check('inquiry_events', EVENT_KINDS)
    replace_kind_check('outbound_emails', EMAIL_KINDS)


def downgrade():
    sqlite_foreign_keys_off()
    bind = op.get_bind()
    for (table, column), values in NEW_VALUES.items():
        found = bind.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {one_of(column, values)}")).scalar()
        if found:
            raise RuntimeError(f'{found} rows of {table} hold {column} values this revision added {values}; remove them first')
    replace_kind_check('outbound_emails', [kind for kind in EMAIL_KINDS if kind not in NEW_VALUES[('outbound_emails', 'kind')]])
    replace_kind_check('inquiry_events', [kind for kind in EVENT_KINDS if kind not in NEW_VALUES[('inquiry_events', 'kind')]])
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.drop_index('ix_inquiries_follow_up_due', postgresql_where=sa.text(FOLLOW_UP_PENDING), sqlite_where=sa.text(FOLLOW_UP_PENDING))
        batch_op.drop_constraint(batch_op.f('ck_inquiries_family_answer'), type_='check')
        batch_op.drop_column('family_answered_at')
        batch_op.drop_column('family_confirmed')
        batch_op.drop_column('follow_up_sent_at')
    op.drop_table('family_opt_outs')
