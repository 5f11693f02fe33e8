"""drop two unused inquiry indexes

Every insert into inquiries (a Get in Touch post) updates each of its indexes, and no
statement of the app reads these two:

- ix_inquiries_email (email), 82 MB on a million inquiries: the app never looks an inquiry
  up by its address. The inbox search compares lower(email), which only the trigram index
  ix_inquiries_search_email serves; /status finds the inquiry by its reference and compares
  the address itself; the repeat check reads dedupe_key.
- ix_inquiries_assignee_status (assigned_contact_id, status), 15 MB: the statements that ask
  for a contact's inquiries by status (the inbox's assignee and "mine" filters, the overdue
  counts, routing's open counts, the hand-over page) are planned on ix_inquiries_open_load
  (status, assigned_contact_id); those by contact alone (a merge, a contact deleted, the
  export filtered by assignee) on ix_inquiries_assignee_received.

ix_inquiries_language stays: the inbox export filtered by language has no LIMIT, and on
PostgreSQL it combines that index with the status or county index.

The downgrade builds both indexes again, as 7ee59dc1b415 made them; on PostgreSQL new
inquiries wait for the table while they are built.

Revision ID: d8c354747da8
Revises: c4e8a2f6d1b9
Create Date: 2026-12-03 17:41:03.207713

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "d8c354747da8"
down_revision = "c4e8a2f6d1b9"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_inquiries_assignee_status", table_name="inquiries")
    op.drop_index("ix_inquiries_email", table_name="inquiries")


def downgrade():
    op.create_index(op.f("ix_inquiries_email"), "inquiries", ["email"], unique=False)
    op.create_index("ix_inquiries_assignee_status", "inquiries", ["assigned_contact_id", "status"], unique=False)
