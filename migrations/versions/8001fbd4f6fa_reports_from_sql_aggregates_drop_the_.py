"""reports from SQL aggregates: drop the report roll-ups

The managers' report now counts and measures the inquiries with GROUP BY queries
(crm.reports.services), so the daily roll-ups (report_days) and their change log
(report_changes) go.

- ix_inquiries_unmeasured_response: the answered inquiries whose business hours were not
  stored with the response (written by other means than the app), which a report measures
  itself. Normally it holds no row at all.

Downgrade recreates both tables without roll-ups and records every day that has inquiries as
changed, as e44fc149ccb6 did: the older release reads those days from the inquiries until
its worker (or `flask crm report-days`) has rolled them up again.

Revision ID: 8001fbd4f6fa
Revises: 9565ca60579b
Create Date: 2026-12-02 17:16:32.909849

"""
from alembic import op
import sqlalchemy as sa
import crm.database


# revision identifiers, used by Alembic.
revision = '8001fbd4f6fa'
down_revision = '9565ca60579b'
branch_labels = None
depends_on = None

ANSWERED_WITHOUT_HOURS = "first_response_at IS NOT NULL AND first_response_hours IS NULL"


def upgrade():
    op.drop_table('report_days')
    with op.batch_alter_table('report_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_changes_day'))

    op.drop_table('report_changes')
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.create_index(
            'ix_inquiries_unmeasured_response',
            ['received_at'],
            unique=False,
            postgresql_where=sa.text(ANSWERED_WITHOUT_HOURS),
            sqlite_where=sa.text(ANSWERED_WITHOUT_HOURS),
        )


def downgrade():
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.drop_index(
            'ix_inquiries_unmeasured_response',
            postgresql_where=sa.text(ANSWERED_WITHOUT_HOURS),
            sqlite_where=sa.text(ANSWERED_WITHOUT_HOURS),
        )

    # As e44fc149ccb6 created them.
    op.create_table('report_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('changed_at', crm.database.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_changes'))
    )
    with op.batch_alter_table('report_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_changes_day'), ['day'], unique=False)

    op.create_table('report_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('layout', sa.SmallInteger(), nullable=False),
    sa.Column('inquiries', sa.Integer(), nullable=False),
    sa.Column('records', sa.LargeBinary(), nullable=False),
    sa.Column('refreshed_at', crm.database.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_report_days'))
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "INSERT INTO report_changes (day, changed_at) "
            "SELECT DISTINCT CAST(received_at AT TIME ZONE 'UTC' AS DATE), now() FROM inquiries"
        )
    else:  # SQLite keeps UTC timestamps as text
        op.execute(
            "INSERT INTO report_changes (day, changed_at) "
            "SELECT DISTINCT date(received_at), datetime('now') FROM inquiries"
        )
