"""inquiries say how the requester wants to be reached: contact_preference and ck_inquiries_reachable

Revision ID: c577800cdcbd
Revises: 8001fbd4f6fa
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c577800cdcbd'
down_revision = '8001fbd4f6fa'
branch_labels = None
depends_on = None

REACHABLE = (
    "anonymised_at IS NOT NULL"
    " OR (contact_preference = 'email' AND email <> '')"
    " OR (contact_preference IN ('phone', 'text') AND phone <> '')"
)


def upgrade():
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'contact_preference',
                sa.Enum('email', 'phone', 'text', name='contactpreference', native_enum=False, length=32),
                server_default='email',
                nullable=False,
            )
        )

    # Every inquiry so far was to be answered by email, except those staff logged with a phone
    # number and no email address: those are answered by phone.
    op.execute(
        "UPDATE inquiries SET contact_preference = 'phone' "
        "WHERE email = '' AND phone <> '' AND anonymised_at IS NULL"
    )
    # Adding a CHECK copies the table on SQLite; env.py turns foreign keys off for the run, so
    # the copy does not take the timeline and the outbox's rows with the old table.
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.create_check_constraint('reachable', REACHABLE)


def downgrade():
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_inquiries_reachable'), type_='check')
        batch_op.drop_column('contact_preference')
