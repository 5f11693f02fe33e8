"""accept or pass: inquiries wait for their contact to accept them, passes are recorded

- inquiries.accepted_at, accepted_by_id and acceptance_due_at (with a partial index on the
  inquiries still awaiting acceptance, for the acceptance job);
- topics.acceptance_hours, the acceptance window in business hours (4 unless set, > 0);
- inquiry_passes: who passed an inquiry on, why ("other" needs a note) and when, by whom
  (nobody: the acceptance window ran out);
- the timeline's new kinds (accepted, passed) and the managers' "not accepted in time" email.

Inquiries already with a contact count as accepted when they were routed: none of them starts
a timer on the upgrade, so none moves on by itself afterwards.

Revision ID: fc9c69517f3a
Revises: c577800cdcbd
Create Date: 2026-12-03 04:06:44.143277

"""
from alembic import op
import sqlalchemy as sa
import crm.database

# revision identifiers, used by Alembic.
revision = 'fc9c69517f3a'
down_revision = 'c577800cdcbd'
branch_labels = None
depends_on = None

PASS_REASONS = ['not_our_area', 'not_a_service', 'no_capacity', 'language', 'other', 'not_accepted_in_time']
# The enum CHECKs this revision widens: (table, column) -> (values before, values after). The
# lists are the models' as of this revision.
WIDENED = {
    ('inquiry_events', 'kind'): (
        [
            'received', 'routed', 'email_queued', 'email_sent', 'email_failed', 'viewed', 'assigned',
            'status_changed', 'note', 'response', 'linked', 'reminder', 'escalated', 'anonymised',
            'family_confirmed', 'family_needs_help',
        ],
        [
            'received', 'routed', 'email_queued', 'email_sent', 'email_failed', 'viewed', 'assigned',
            'status_changed', 'note', 'response', 'linked', 'reminder', 'escalated', 'anonymised',
            'family_confirmed', 'family_needs_help', 'accepted', 'passed',
        ],
    ),
    ('outbound_emails', 'kind'): (
        [
            'contact_notice', 'reassigned_notice', 'requester_ack', 'sla_reminder', 'sla_escalation',
            'invitation', 'password_reset', 'family_follow_up', 'family_reopened',
        ],
        [
            'contact_notice', 'reassigned_notice', 'requester_ack', 'sla_reminder', 'sla_escalation',
            'invitation', 'password_reset', 'family_follow_up', 'family_reopened', 'acceptance_missed',
        ],
    ),
}
AWAITING_ACCEPTANCE = 'accepted_at IS NULL AND acceptance_due_at IS NOT NULL'


def one_of(column, values):
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({listed})"


def sqlite_foreign_keys_off():
    """Copying inquiries (which events, emails and passes refer to) with SQLite's foreign keys
    on would delete or NULL their rows: as 12a621244337 does, turn them off first, at the
    driver and outside a transaction; env.py turns them on again and checks every key after."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return
    driver_connection = bind.connection.dbapi_connection
    if driver_connection.in_transaction:
        driver_connection.execute('COMMIT')
    driver_connection.execute('PRAGMA foreign_keys=OFF')
    if driver_connection.execute('PRAGMA foreign_keys').fetchone()[0]:
        raise RuntimeError('could not turn SQLite foreign keys off; stopping before any table is copied')


def set_enum_checks(which):
    for (table, column), values in WIDENED.items():
        name = f'ck_{table}_{column}'
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(name), type_='check')
            batch_op.create_check_constraint(batch_op.f(name), one_of(column, values[which]))


def upgrade():
    sqlite_foreign_keys_off()
    op.create_table('inquiry_passes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inquiry_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Enum(*PASS_REASONS, name='reason', native_enum=False, create_constraint=False, length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('passed_at', crm.database.UTCDateTime(), nullable=False),
    sa.Column('passed_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint(one_of('reason', PASS_REASONS), name=op.f('ck_inquiry_passes_reason')),
    sa.CheckConstraint("reason <> 'other' OR note <> ''", name=op.f('ck_inquiry_passes_other_has_note')),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_inquiry_passes_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiries.id'], name=op.f('fk_inquiry_passes_inquiry_id_inquiries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['passed_by_id'], ['users.id'], name=op.f('fk_inquiry_passes_passed_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inquiry_passes'))
    )
    with op.batch_alter_table('inquiry_passes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inquiry_passes_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index('ix_inquiry_passes_inquiry', ['inquiry_id', 'passed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_inquiry_passes_passed_by_id'), ['passed_by_id'], unique=False)

    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accepted_at', crm.database.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('accepted_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('acceptance_due_at', crm.database.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_inquiries_acceptance_due', ['acceptance_due_at'], unique=False, postgresql_where=sa.text(AWAITING_ACCEPTANCE), sqlite_where=sa.text(AWAITING_ACCEPTANCE))
        batch_op.create_index(batch_op.f('ix_inquiries_accepted_by_id'), ['accepted_by_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_inquiries_accepted_by_id_users'), 'users', ['accepted_by_id'], ['id'], ondelete='SET NULL')
    # Work already with a contact was taken on before acceptance existed.
    op.execute(
        'UPDATE inquiries SET accepted_at = COALESCE(routed_at, received_at) WHERE assigned_contact_id IS NOT NULL'
    )

    with op.batch_alter_table('topics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acceptance_hours', sa.Integer(), server_default='4', nullable=False))
        batch_op.create_check_constraint(batch_op.f('ck_topics_acceptance_hours_positive'), 'acceptance_hours > 0')

    set_enum_checks(1)


def downgrade():
    sqlite_foreign_keys_off()
    op.execute("DELETE FROM inquiry_events WHERE kind IN ('accepted', 'passed')")
    op.execute("DELETE FROM outbound_emails WHERE kind = 'acceptance_missed'")
    set_enum_checks(0)

    with op.batch_alter_table('topics', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_topics_acceptance_hours_positive'), type_='check')
        batch_op.drop_column('acceptance_hours')

    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_inquiries_accepted_by_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_inquiries_accepted_by_id'))
        batch_op.drop_index('ix_inquiries_acceptance_due', postgresql_where=sa.text(AWAITING_ACCEPTANCE), sqlite_where=sa.text(AWAITING_ACCEPTANCE))
        batch_op.drop_column('acceptance_due_at')
        batch_op.drop_column('accepted_by_id')
        batch_op.drop_column('accepted_at')

    with op.batch_alter_table('inquiry_passes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inquiry_passes_passed_by_id'))
        batch_op.drop_index('ix_inquiry_passes_inquiry')
        batch_op.drop_index(batch_op.f('ix_inquiry_passes_contact_id'))

    op.drop_table('inquiry_passes')
