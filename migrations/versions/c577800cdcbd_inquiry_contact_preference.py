"""inquiries say how the requester wants to be reached: contact_preference and ck_inquiries_reachable

Revision ID: c577800cdcbd
Revises: 882135b53874
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c577800cdcbd'
down_revision = '882135b53874'
branch_labels = None
depends_on = None

REACHABLE = (
    "anonymised_at IS NOT NULL"
    " OR (contact_preference = 'email' AND email <> '')"
    " OR (contact_preference <> 'email' AND phone <> '')"
)
# The enum's own check (crm.database.enum_column), as 12a621244337 names the others.
PREFERENCES = "contact_preference IN ('email', 'phone', 'text')"


def sqlite_foreign_keys_off():
    """Adding a CHECK copies inquiries on SQLite; with foreign keys on, dropping the old copy
    would delete the timeline and the outbox rows that refer to it (ON DELETE CASCADE).
    As in 12a621244337: the pragma is ignored inside a transaction, hence the COMMIT of what
    came before, at the driver; env.py turns keys on again and checks them after the run."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return
    driver_connection = bind.connection.dbapi_connection
    if driver_connection.in_transaction:
        driver_connection.execute('COMMIT')
    driver_connection.execute('PRAGMA foreign_keys=OFF')
    if driver_connection.execute('PRAGMA foreign_keys').fetchone()[0]:
        raise RuntimeError('could not turn SQLite foreign keys off; stopping before any table is copied')


def upgrade():
    sqlite_foreign_keys_off()
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'contact_preference',
                sa.Enum('email', 'phone', 'text', name='contact_preference', native_enum=False, length=32),
                server_default='email',
                nullable=False,
            )
        )

    # Every inquiry so far was to be answered by email, except those staff logged with a phone
    # number and no email address: those are answered by phone.
    op.execute(
        "UPDATE inquiries SET contact_preference = 'phone' "
        "WHERE email = '' AND phone <> '' AND anonymised_at IS NULL"
    )
    bind = op.get_bind()
    unreachable = bind.execute(sa.text(f"SELECT reference FROM inquiries WHERE NOT ({REACHABLE})")).scalars().all()
    if unreachable:
        raise RuntimeError(
            f"Inquiries {unreachable[:20]} have neither an email address nor a phone number; "
            "add one (or anonymise them) before upgrading"
        )
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f('ck_inquiries_contact_preference'), PREFERENCES)
        batch_op.create_check_constraint(batch_op.f('ck_inquiries_reachable'), REACHABLE)


def downgrade():
    sqlite_foreign_keys_off()
    with op.batch_alter_table('inquiries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_inquiries_reachable'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_inquiries_contact_preference'), type_='check')
        batch_op.drop_column('contact_preference')
