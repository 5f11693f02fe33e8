"""calendar feeds: one private feed address per user, its token kept as a SHA-256

Revision ID: 53b8580be86b
Revises: 12a621244337
Create Date: 2026-12-03 04:03:27.971207

"""
from alembic import op
import sqlalchemy as sa
import crm.database

# revision identifiers, used by Alembic.
revision = '53b8580be86b'
down_revision = '12a621244337'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('calendar_feeds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', crm.database.UTCDateTime(), nullable=False),
    sa.CheckConstraint('length(token_hash) = 64', name=op.f('ck_calendar_feeds_token_hash_is_sha256')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_calendar_feeds_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_feeds')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_calendar_feeds_token_hash')),
    sa.UniqueConstraint('user_id', name=op.f('uq_calendar_feeds_user_id'))
    )


def downgrade():
    op.drop_table('calendar_feeds')
