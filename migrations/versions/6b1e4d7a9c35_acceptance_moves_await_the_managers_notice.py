"""acceptance moves await the managers' notice

- inquiry_passes.managers_told_at: when the managers' notice listing one of the acceptance
  job's moves ("not accepted in time") was queued; NULL while it awaits it. The move writes
  its pass in its own transaction and the notice marks what it lists in its own, so a run
  that stops between the two leaves its moves for the next run to tell, once.
- inquiry_passes.moved_to_contact_id: whom routing gave the inquiry to next, which the notice
  names, whenever it is queued.
- ix_inquiry_passes_notice_pending: the moves awaiting the notice, normally none.

The job's earlier moves were told in the run that made them (or never will be): they are
marked told at their own time, so that the first run after this revision tells nobody of
old moves.

Revision ID: 6b1e4d7a9c35
Revises: bf61c2a7d940
Create Date: 2026-12-04 04:40:00.000000

"""
from alembic import op
import sqlalchemy as sa
import crm.database


# revision identifiers, used by Alembic.
revision = '6b1e4d7a9c35'
down_revision = 'bf61c2a7d940'
branch_labels = None
depends_on = None

# crm.models.inquiry's _NOTICE_PENDING when this revision was written.
NOTICE_PENDING = "reason = 'not_accepted_in_time' AND managers_told_at IS NULL"


def upgrade():
    with op.batch_alter_table('inquiry_passes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moved_to_contact_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('managers_told_at', crm.database.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_inquiry_passes_moved_to_contact_id'), ['moved_to_contact_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_inquiry_passes_moved_to_contact_id_contacts'), 'contacts',
            ['moved_to_contact_id'], ['id'], ondelete='SET NULL',
        )
    op.execute(
        "UPDATE inquiry_passes SET managers_told_at = passed_at"
        " WHERE reason = 'not_accepted_in_time' AND managers_told_at IS NULL"
    )
    with op.batch_alter_table('inquiry_passes', schema=None) as batch_op:
        batch_op.create_index(
            'ix_inquiry_passes_notice_pending', ['passed_at', 'id'], unique=False,
            postgresql_where=sa.text(NOTICE_PENDING), sqlite_where=sa.text(NOTICE_PENDING),
        )


def downgrade():
    with op.batch_alter_table('inquiry_passes', schema=None) as batch_op:
        batch_op.drop_index('ix_inquiry_passes_notice_pending')
        batch_op.drop_constraint(batch_op.f('fk_inquiry_passes_moved_to_contact_id_contacts'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_inquiry_passes_moved_to_contact_id'))
        batch_op.drop_column('managers_told_at')
        batch_op.drop_column('moved_to_contact_id')
