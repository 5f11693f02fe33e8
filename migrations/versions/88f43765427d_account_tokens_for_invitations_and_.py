"""account tokens for invitations and password resets; users.must_change_password

- account_tokens: the single-use, expiring links sent by email to accept an invitation or to
  reset a forgotten password (crm.auth.tokens). Only each token's SHA-256 is stored; rows stay
  after use, withdrawal or expiry so a link can say why it no longer works.
- users.must_change_password: set by an administrator's password reset; false for every
  existing user.

Revision ID: 88f43765427d
Revises: 3c9fea6076a1
Create Date: 2026-12-03 03:24:54.266627

"""
from alembic import op
import sqlalchemy as sa
import crm.database

# revision identifiers, used by Alembic.
revision = '88f43765427d'
down_revision = '3c9fea6076a1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('account_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.Enum('invite', 'reset', name='tokenpurpose', native_enum=False, length=32), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.Enum('admin', 'manager', 'staff', 'partner', name='role', native_enum=False, length=32), nullable=True),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', crm.database.UTCDateTime(), nullable=False),
    sa.Column('expires_at', crm.database.UTCDateTime(), nullable=False),
    sa.Column('used_at', crm.database.UTCDateTime(), nullable=True),
    sa.Column('withdrawn_at', crm.database.UTCDateTime(), nullable=True),
    sa.CheckConstraint("purpose <> 'invite' OR role IS NOT NULL", name=op.f('ck_account_tokens_invite_has_role')),
    sa.CheckConstraint("purpose <> 'reset' OR user_id IS NOT NULL", name=op.f('ck_account_tokens_reset_has_user')),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_account_tokens_expires_after_creation')),
    sa.CheckConstraint('length(token_hash) = 64', name=op.f('ck_account_tokens_token_hash_is_sha256')),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_account_tokens_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_account_tokens_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_account_tokens_organisation_id_organisations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_account_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_account_tokens_token_hash'))
    )
    with op.batch_alter_table('account_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_tokens_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_tokens_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_tokens_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_tokens_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_tokens_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')

    with op.batch_alter_table('account_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_tokens_user_id'))
        batch_op.drop_index(batch_op.f('ix_account_tokens_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_account_tokens_email'))
        batch_op.drop_index(batch_op.f('ix_account_tokens_created_by_id'))
        batch_op.drop_index(batch_op.f('ix_account_tokens_contact_id'))

    op.drop_table('account_tokens')
