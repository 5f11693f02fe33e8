"""sign-in links sent before: their stored copies keep no token

Since the previous revision's release the outbox runner writes a sent or dead invitation's
or password reset's token as "(hidden)" in outbound_emails.body_text, so that a backup or
dump of the outbox holds no working sign-in link (crm.mail.sign_in_links). The rows sent or
dead before that still hold theirs: this hides them the same way. Pending and held rows keep
their links, which the runner still has to send.

Data only. The tokens cannot be put back, so the downgrade leaves the bodies as they are.

Revision ID: 2d7c5e8b1f40
Revises: 6b1e4d7a9c35
Create Date: 2026-12-04 06:15:00.000000

"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2d7c5e8b1f40'
down_revision = '6b1e4d7a9c35'
branch_labels = None
depends_on = None

# crm.mail.sign_in_links when this revision was written; copied, as a migration does not
# follow later changes of the app's code.
SIGN_IN_LINK_KINDS = ("invitation", "password_reset")
ENDED = ("sent", "dead")
LINK_TOKEN = re.compile(r"([?&]token=)([^\s&#]+)")
HIDDEN = "(hidden)"


def upgrade():
    connection = op.get_bind()
    emails = sa.table(
        "outbound_emails", sa.column("id", sa.Integer), sa.column("kind", sa.String),
        sa.column("status", sa.String), sa.column("body_text", sa.Text),
    )
    rows = connection.execute(
        sa.select(emails.c.id, emails.c.body_text).where(
            emails.c.kind.in_(SIGN_IN_LINK_KINDS), emails.c.status.in_(ENDED)
        )
    ).all()
    for email_id, body in rows:
        hidden = LINK_TOKEN.sub(rf"\g<1>{HIDDEN}", body)
        if hidden != body:
            connection.execute(sa.update(emails).where(emails.c.id == email_id).values(body_text=hidden))


def downgrade():
    pass
