"""acceptances before stored hours measured

5245dc9be1a4 stores the business hours from receipt to acceptance when an inquiry is accepted;
rows accepted before it have none, and the report measures those itself, one by one
(ix_inquiries_unmeasured_acceptance). Nearly all of them are the inquiries that fc9c69517f3a
counted as accepted when accept or pass was installed, with accepted_at = COALESCE(routed_at,
received_at): routed at receipt, so accepted_at equals received_at and the business hours
between them are exactly 0. Those get their 0 here, so the report need not measure thousands
of old rows each time; the few others (routed later by hand) are still measured by the report.

Downgrade leaves the hours: 5245dc9be1a4's downgrade drops the column.

Revision ID: fcd878707e40
Revises: 5d0c1f3a9e27
Create Date: 2026-12-03 07:09:10.710332

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'fcd878707e40'
down_revision = '5d0c1f3a9e27'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        'UPDATE inquiries SET accepted_after_hours = 0'
        ' WHERE accepted_at IS NOT NULL AND accepted_after_hours IS NULL AND accepted_at = received_at'
    )


def downgrade():
    pass
