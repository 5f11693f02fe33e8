"""held posts: the language CHECK inquiries have, attempts never negative

A held send is filed later as an inquiry, and ck_inquiries_language would refuse a language
the app cannot answer in then, after the family was thanked; the held row now refuses it
when it is written. The languages are written out here, not read from crm.languages, so the
revision does the same thing whatever the code says later.

Revision ID: 3e8a1f0c6b2d
Revises: bff2f14a5cc1
Create Date: 2026-12-03 10:40:00

"""
from alembic import op

from migrations.helpers import sqlite_foreign_keys_off

# revision identifiers, used by Alembic.
revision = "3e8a1f0c6b2d"
down_revision = "bff2f14a5cc1"
branch_labels = None
depends_on = None


def upgrade():
    sqlite_foreign_keys_off()
    with op.batch_alter_table("held_posts", schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f("ck_held_posts_language"), "language IN ('en', 'es')")
        batch_op.create_check_constraint(batch_op.f("ck_held_posts_attempts_not_negative"), "attempts >= 0")


def downgrade():
    sqlite_foreign_keys_off()
    with op.batch_alter_table("held_posts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_held_posts_attempts_not_negative"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_held_posts_language"), type_="check")
