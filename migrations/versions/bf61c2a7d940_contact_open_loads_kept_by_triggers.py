"""each contact's open inquiries, a count kept by triggers on inquiries

Routing weighed each candidate by counting their open inquiries at every post, over the
assignee index: thousands of entries for a busy contact. contact_open_loads holds the count
(a contact without a row has none), filled here from the inquiries as they are, and kept by
triggers on inquiries from then on (crm.models.open_load says why a table of its own).

The open statuses are written out as they are at this revision ('assigned', 'in_progress',
'new', 'responded', crm.models.inquiry_status.OPEN_STATUS_ORDER): a later change to them needs a
revision that writes the triggers again and recounts. On SQLite a batch operation on
inquiries copies the table and drops these triggers: a later revision that does one must make
them again (tests/test_migrations.py checks the head has them).

PostgreSQL: one trigger per statement, which updates the counts it changes in the order of
the contacts' ids; SQLite: per row.

Revision ID: bf61c2a7d940
Revises: d8c354747da8
Create Date: 2026-12-03 21:58:12.518302

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "bf61c2a7d940"
down_revision = "d8c354747da8"
branch_labels = None
depends_on = None

TRIGGERS = ("trg_inquiries_open_load_insert", "trg_inquiries_open_load_update", "trg_inquiries_open_load_delete")

POSTGRESQL = [
    """CREATE OR REPLACE FUNCTION contact_open_loads_apply() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    moves refcursor;
    change record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        OPEN moves FOR SELECT contact_id, sum(delta) AS delta FROM (SELECT moved.assigned_contact_id AS contact_id, 1 AS delta FROM new_rows AS moved WHERE moved.assigned_contact_id IS NOT NULL AND moved.status IN ('assigned', 'in_progress', 'new', 'responded')) AS counted
            GROUP BY contact_id ORDER BY contact_id;
    ELSIF TG_OP = 'DELETE' THEN
        OPEN moves FOR SELECT contact_id, sum(delta) AS delta FROM (SELECT moved.assigned_contact_id AS contact_id, -1 AS delta FROM old_rows AS moved WHERE moved.assigned_contact_id IS NOT NULL AND moved.status IN ('assigned', 'in_progress', 'new', 'responded')) AS counted
            GROUP BY contact_id ORDER BY contact_id;
    ELSE
        OPEN moves FOR SELECT contact_id, sum(delta) AS delta FROM (SELECT moved.assigned_contact_id AS contact_id, -1 AS delta FROM old_rows AS moved WHERE moved.assigned_contact_id IS NOT NULL AND moved.status IN ('assigned', 'in_progress', 'new', 'responded') UNION ALL SELECT moved.assigned_contact_id AS contact_id, 1 AS delta FROM new_rows AS moved WHERE moved.assigned_contact_id IS NOT NULL AND moved.status IN ('assigned', 'in_progress', 'new', 'responded')) AS counted
            GROUP BY contact_id HAVING sum(delta) <> 0 ORDER BY contact_id;
    END IF;
    LOOP
        FETCH moves INTO change;
        EXIT WHEN NOT FOUND;
        UPDATE contact_open_loads SET open_inquiries = open_inquiries + change.delta
            WHERE contact_id = change.contact_id;
        IF NOT FOUND AND change.delta > 0 THEN
            INSERT INTO contact_open_loads AS kept (contact_id, open_inquiries) VALUES (change.contact_id, change.delta)
                ON CONFLICT (contact_id) DO UPDATE SET open_inquiries = kept.open_inquiries + excluded.open_inquiries;
        END IF;
    END LOOP;
    CLOSE moves;
    RETURN NULL;
END
$body$""",
    "CREATE TRIGGER trg_inquiries_open_load_insert AFTER INSERT ON inquiries REFERENCING NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION contact_open_loads_apply()",
    "CREATE TRIGGER trg_inquiries_open_load_update AFTER UPDATE ON inquiries REFERENCING OLD TABLE AS old_rows"
    " NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contact_open_loads_apply()",
    "CREATE TRIGGER trg_inquiries_open_load_delete AFTER DELETE ON inquiries REFERENCING OLD TABLE AS old_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION contact_open_loads_apply()",
]

SQLITE = [
    "CREATE TRIGGER trg_inquiries_open_load_insert AFTER INSERT ON inquiries BEGIN"
    " INSERT INTO contact_open_loads (contact_id, open_inquiries) SELECT NEW.assigned_contact_id, 1"
    " WHERE NEW.assigned_contact_id IS NOT NULL AND NEW.status IN ('assigned', 'in_progress', 'new', 'responded')"
    " ON CONFLICT (contact_id) DO UPDATE SET open_inquiries = open_inquiries + 1; END",
    "CREATE TRIGGER trg_inquiries_open_load_update AFTER UPDATE OF status, assigned_contact_id ON inquiries"
    " WHEN OLD.assigned_contact_id IS NOT NEW.assigned_contact_id"
    " OR (OLD.assigned_contact_id IS NOT NULL AND OLD.status IN ('assigned', 'in_progress', 'new', 'responded'))"
    " IS NOT (NEW.assigned_contact_id IS NOT NULL AND NEW.status IN ('assigned', 'in_progress', 'new', 'responded'))"
    " BEGIN UPDATE contact_open_loads SET open_inquiries = open_inquiries - 1"
    " WHERE contact_id = OLD.assigned_contact_id AND OLD.assigned_contact_id IS NOT NULL"
    " AND OLD.status IN ('assigned', 'in_progress', 'new', 'responded');"
    " INSERT INTO contact_open_loads (contact_id, open_inquiries) SELECT NEW.assigned_contact_id, 1"
    " WHERE NEW.assigned_contact_id IS NOT NULL AND NEW.status IN ('assigned', 'in_progress', 'new', 'responded')"
    " ON CONFLICT (contact_id) DO UPDATE SET open_inquiries = open_inquiries + 1; END",
    "CREATE TRIGGER trg_inquiries_open_load_delete AFTER DELETE ON inquiries BEGIN"
    " UPDATE contact_open_loads SET open_inquiries = open_inquiries - 1"
    " WHERE contact_id = OLD.assigned_contact_id AND OLD.assigned_contact_id IS NOT NULL"
    " AND OLD.status IN ('assigned', 'in_progress', 'new', 'responded'); END",
]


def upgrade():
    op.create_table(
        "contact_open_loads",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("open_inquiries", sa.Integer(), nullable=False),
        sa.CheckConstraint("open_inquiries >= 0", name=op.f("ck_contact_open_loads_not_negative")),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_open_loads_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_open_loads")),
    )
    postgresql = op.get_context().dialect.name == "postgresql"
    if postgresql:
        # No inquiry may change between the count and the triggers: the lock CREATE TRIGGER
        # takes anyway, taken first, waits for the writes under way and holds off new ones.
        op.execute("LOCK TABLE inquiries IN SHARE ROW EXCLUSIVE MODE")
    op.execute(
        "INSERT INTO contact_open_loads (contact_id, open_inquiries)"
        " SELECT assigned_contact_id, count(*) FROM inquiries"
        " WHERE assigned_contact_id IS NOT NULL AND status IN ('assigned', 'in_progress', 'new', 'responded')"
        " GROUP BY assigned_contact_id"
    )
    for statement in POSTGRESQL if postgresql else SQLITE:
        op.execute(statement)


def downgrade():
    postgresql = op.get_context().dialect.name == "postgresql"
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON inquiries" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS contact_open_loads_apply()")
    op.drop_table("contact_open_loads")
