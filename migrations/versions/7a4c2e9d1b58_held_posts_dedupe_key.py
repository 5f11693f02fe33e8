"""held posts: the duplicate check's key

The same words sent again while the first send is held are that send: the second is thanked
with the first one's reference instead of being held, then filed as a duplicate, under a
reference that names nothing. Rows held before this revision have no key and are matched by
none.

Revision ID: 7a4c2e9d1b58
Revises: 3e8a1f0c6b2d
Create Date: 2026-12-03 10:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "7a4c2e9d1b58"
down_revision = "3e8a1f0c6b2d"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("held_posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=64), server_default="", nullable=False))
        batch_op.create_index("ix_held_posts_dedupe", ["dedupe_key", "received_at"], unique=False)


def downgrade():
    with op.batch_alter_table("held_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_held_posts_dedupe")
        batch_op.drop_column("dedupe_key")
