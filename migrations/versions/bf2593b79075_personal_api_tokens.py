"""personal API tokens: api_tokens

A user's tokens for the JSON API (/api/v1/): only the SHA-256 of each is kept, with its
name, scope (read or write), last use and revocation.

Revision ID: bf2593b79075
Revises: fc9c69517f3a
Create Date: 2026-12-03 04:04:36.781811

"""
from alembic import op
import sqlalchemy as sa
import crm.database

# revision identifiers, used by Alembic.
revision = 'bf2593b79075'
down_revision = 'fc9c69517f3a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('scope', sa.Enum('read', 'write', name='scope', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('hint', sa.String(length=16), nullable=False),
    sa.Column('created_at', crm.database.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', crm.database.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', crm.database.UTCDateTime(), nullable=True),
    sa.CheckConstraint('length(token_hash) = 64', name=op.f('ck_api_tokens_token_hash_is_sha256')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
