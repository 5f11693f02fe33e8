"""report index covers the closed loop

The managers' report reads every inquiry of its period twice more since the closed-loop
figures (crm.reports.loop): their counts (acceptance, the acceptance window, the outcome, the
follow-up and the family's answer), the hours to acceptance, and the passes, joined by the
inquiry's id. ix_inquiries_report held none of those columns, so on PostgreSQL each of those
statements read the table's rows as well as the index. It now includes them, and the report
reads the period from the index alone again.

PostgreSQL only: on SQLite the index is on received_at alone and stays as it is. Rebuilding
the index holds off writes to inquiries while it is built (seconds on a million inquiries).

Revision ID: 100d7478a5c4
Revises: b7e3c2a91f54
Create Date: 2026-12-03 07:45:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '100d7478a5c4'
down_revision = 'b7e3c2a91f54'
branch_labels = None
depends_on = None

BEFORE = [
    'status',
    'first_response_at',
    'first_response_hours',
    'topic_id',
    'county_fips',
    'language',
    'organisation_id',
]
AFTER = [
    *BEFORE,
    'id',
    'outcome',
    'assigned_contact_id',
    'accepted_at',
    'accepted_after_hours',
    'acceptance_due_at',
    'follow_up_sent_at',
    'family_answered_at',
    'family_confirmed',
]


def _rebuild(include: list[str]) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.drop_index('ix_inquiries_report', table_name='inquiries')
    op.create_index('ix_inquiries_report', 'inquiries', ['received_at'], unique=False, postgresql_include=include)


def upgrade():
    _rebuild(AFTER)


def downgrade():
    _rebuild(BEFORE)
