"""imports: external ids, remembered mappings, stored uploads

The external_id columns get unique indexes, not constraints, and are added and dropped with
plain ALTER TABLE: no SQLite table copy, so nothing that refers to these tables is touched.

Revision ID: 882135b53874
Revises: d8d70e6d9599
Create Date: 2026-12-03 04:14:14.259457

"""
from alembic import op
import sqlalchemy as sa
import crm.database

# revision identifiers, used by Alembic.
revision = '882135b53874'
down_revision = 'd8d70e6d9599'
branch_labels = None
depends_on = None


TABLES = ('organisations', 'contacts', 'grants', 'interactions')


def upgrade():
    op.create_table('import_mappings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('headers_key', sa.String(length=64), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('updated_at', crm.database.UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('organisations', 'contacts', 'grants', 'interactions')", name=op.f('ck_import_mappings_kind_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_mappings')),
    sa.UniqueConstraint('kind', 'headers_key', name='uq_import_mappings_kind_headers_key')
    )
    op.create_table('import_uploads',
    sa.Column('id', sa.String(length=43), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=True),
    sa.Column('created_at', crm.database.UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('organisations', 'contacts', 'grants', 'interactions')", name=op.f('ck_import_uploads_kind_known')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_import_uploads_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_uploads'))
    )
    op.create_index('ix_import_uploads_created_at', 'import_uploads', ['created_at'], unique=False)
    op.create_index(op.f('ix_import_uploads_user_id'), 'import_uploads', ['user_id'], unique=False)
    for table in TABLES:
        op.add_column(table, sa.Column('external_id', sa.String(length=100), nullable=True))
        op.create_index(op.f(f'ix_{table}_external_id'), table, ['external_id'], unique=True)


def downgrade():
    for table in reversed(TABLES):
        op.drop_index(op.f(f'ix_{table}_external_id'), table_name=table)
        op.drop_column(table, 'external_id')
    op.drop_index(op.f('ix_import_uploads_user_id'), table_name='import_uploads')
    op.drop_index('ix_import_uploads_created_at', table_name='import_uploads')
    op.drop_table('import_uploads')
    op.drop_table('import_mappings')
