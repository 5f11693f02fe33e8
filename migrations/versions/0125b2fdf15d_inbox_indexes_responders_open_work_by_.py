"""inbox indexes: responders, open work by organisation, trigram search

- ix_contacts_responders: the assign and filter menus list the few hundred contacts who take
  inquiries without reading every contact on file.
- ix_inquiries_open_org: an organisation's open inquiries, newest first (a partner's inbox,
  and staff filtering by organisation).
- ix_inquiries_awaiting_response: open inquiries without a first response, newest first
  (the overdue filter).
- ix_inquiries_search_<column>, PostgreSQL only: a GIN trigram index on lower(<column>) for
  each column the inbox search reads, so a rare term is found without reading every message.
  They need the pg_trgm extension (trusted since PostgreSQL 13: a database owner may create
  it). SQLite has no such index and keeps reading the rows.

Building the trigram indexes takes about a minute per million inquiries, during which new
inquiries wait for the table.

Revision ID: 0125b2fdf15d
Revises: e44fc149ccb6
Create Date: 2026-11-24 00:39:56.973408

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0125b2fdf15d'
down_revision = 'e44fc149ccb6'
branch_labels = None
depends_on = None

# crm.inquiries.status.OPEN_STATUSES when this revision was written.
OPEN = "status IN ('assigned', 'in_progress', 'new', 'responded')"
AWAITING_RESPONSE = OPEN + " AND first_response_at IS NULL"
# crm.models.inquiry.SEARCHED_COLUMNS
SEARCHED_COLUMNS = ("name", "email", "reference", "message")


def upgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(
            'ix_contacts_responders',
            ['organisation_id'],
            unique=False,
            postgresql_where=sa.text('accepts_inquiries IS true'),
            sqlite_where=sa.text('accepts_inquiries IS 1'),
        )

    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.create_index(
            'ix_inquiries_open_org',
            ['organisation_id', 'received_at', 'id'],
            unique=False,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        )
        batch_op.create_index(
            'ix_inquiries_awaiting_response',
            ['received_at', 'id'],
            unique=False,
            postgresql_where=sa.text(AWAITING_RESPONSE),
            sqlite_where=sa.text(AWAITING_RESPONSE),
        )

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        # The operator class is named with the extension's schema: pg_trgm may have been
        # installed before, in a schema this connection's search_path leaves out.
        schema = bind.execute(
            sa.text("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'")
        ).scalar_one()
        for column in SEARCHED_COLUMNS:
            op.execute(
                f"CREATE INDEX ix_inquiries_search_{column} ON inquiries "
                f"USING gin (lower({column}) {schema}.gin_trgm_ops)"
            )


def downgrade():
    # pg_trgm stays: an extension belongs to the whole database, and other schemas may use it.
    if op.get_bind().dialect.name == "postgresql":
        for column in SEARCHED_COLUMNS:
            op.execute(f"DROP INDEX ix_inquiries_search_{column}")

    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.drop_index('ix_inquiries_awaiting_response')
        batch_op.drop_index('ix_inquiries_open_org')

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_responders')
