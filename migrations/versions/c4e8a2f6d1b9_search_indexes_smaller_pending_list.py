"""search indexes: a smaller pending list

PostgreSQL only. A GIN index takes new entries into a pending list and merges the list into
the index once it passes gin_pending_list_limit (4 MB by default), in whichever insert crosses
it, unless a vacuum got there first. On a million inquiries that insert, a Get in Touch post,
took 37 to 73 ms longer than the others, once every 1,600 to 5,600 posts; and every search
reads the whole list first (7.5 ms for a rare term with full 4 MB lists, against 0.1 ms
empty). At 256 kB the worst insert took under 20 ms and the average insert 0.05 to 0.1 ms
more. fastupdate off would have no list at all, but made every insert 2.5 to 4 times dearer.

Revision ID: c4e8a2f6d1b9
Revises: 7a4c2e9d1b58
Create Date: 2026-12-03 15:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "c4e8a2f6d1b9"
down_revision = "7a4c2e9d1b58"
branch_labels = None
depends_on = None

SEARCHED_COLUMNS = ("name", "email", "reference", "message")
PENDING_LIST_KB = 256


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in SEARCHED_COLUMNS:
        op.execute(f"ALTER INDEX ix_inquiries_search_{column} SET (gin_pending_list_limit = {PENDING_LIST_KB})")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in SEARCHED_COLUMNS:
        op.execute(f"ALTER INDEX ix_inquiries_search_{column} RESET (gin_pending_list_limit)")
