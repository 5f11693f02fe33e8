"""hours to acceptance stored when accepted

- inquiries.accepted_after_hours: business hours from receipt to acceptance, fixed when the
  inquiry is accepted, as first_response_hours is for the first response; the report's
  time to acceptance is a SQL aggregate of it.
- ix_inquiries_unmeasured_acceptance: the accepted inquiries without those hours (accepted
  before this revision, or written by other means than the app), which a report measures
  itself. Existing rows are left unmeasured rather than guessed: the report runs the business
  clock for them.

Revision ID: 5245dc9be1a4
Revises: a92d3de6bad7
Create Date: 2026-12-03 06:35:51.913701

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5245dc9be1a4'
down_revision = 'a92d3de6bad7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accepted_after_hours', sa.Float(), nullable=True))
        batch_op.create_index('ix_inquiries_unmeasured_acceptance', ['received_at'], unique=False, postgresql_where=sa.text('accepted_at IS NOT NULL AND accepted_after_hours IS NULL'), sqlite_where=sa.text('accepted_at IS NOT NULL AND accepted_after_hours IS NULL'))



def downgrade():
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.drop_index('ix_inquiries_unmeasured_acceptance', postgresql_where=sa.text('accepted_at IS NOT NULL AND accepted_after_hours IS NULL'), sqlite_where=sa.text('accepted_at IS NOT NULL AND accepted_after_hours IS NULL'))
        batch_op.drop_column('accepted_after_hours')

