"""response-time jobs read only what is pending: ix_inquiries_reminder_pending and
ix_inquiries_escalation_pending

- ix_inquiries_reminder_pending: assigned inquiries awaiting their first response whose
  contact has not been reminded, by deadline.
- ix_inquiries_escalation_pending: inquiries awaiting their first response not yet escalated,
  by deadline.

The sla-checks job reads the entries whose deadline has come; a handled inquiry (reminded,
escalated, answered or closed) leaves the index, so a run that finds little to do reads a
handful of entries however many inquiries there are. Building them reads the inquiries once
(a few seconds per million on PostgreSQL).

Revision ID: b7e3c2a91f54
Revises: fcd878707e40
Create Date: 2026-12-03 07:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e3c2a91f54'
down_revision = 'fcd878707e40'
branch_labels = None
depends_on = None

# crm.models.inquiry's _REMINDER_PENDING and _ESCALATION_PENDING when this revision was written.
OPEN = "status IN ('assigned', 'in_progress', 'new', 'responded')"
AWAITING_RESPONSE = OPEN + " AND first_response_at IS NULL"
REMINDER_PENDING = AWAITING_RESPONSE + " AND reminder_sent_at IS NULL AND assigned_contact_id IS NOT NULL"
ESCALATION_PENDING = AWAITING_RESPONSE + " AND escalated_at IS NULL"
INDEXES = {
    'ix_inquiries_reminder_pending': REMINDER_PENDING,
    'ix_inquiries_escalation_pending': ESCALATION_PENDING,
}


def upgrade():
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        for name, condition in INDEXES.items():
            batch_op.create_index(
                name, ['due_at'], unique=False,
                postgresql_where=sa.text(condition), sqlite_where=sa.text(condition),
            )


def downgrade():
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
