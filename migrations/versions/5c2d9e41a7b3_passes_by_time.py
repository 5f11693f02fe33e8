"""passes by time

The managers' report counts the passes of its period's inquiries (crm.reports.loop). A pass
comes after its inquiry was received, so only the passes made since the period began are
read; this index finds them by time instead of reading every pass ever made, and on
PostgreSQL it also holds the inquiry and the reason, which is all the report reads of them.

Revision ID: 5c2d9e41a7b3
Revises: b961a74ecad4
Create Date: 2026-12-03 10:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '5c2d9e41a7b3'
down_revision = 'b961a74ecad4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_inquiry_passes_passed_at',
        'inquiry_passes',
        ['passed_at'],
        unique=False,
        postgresql_include=['inquiry_id', 'reason'],
    )


def downgrade():
    op.drop_index('ix_inquiry_passes_passed_at', table_name='inquiry_passes')
