"""Each contact's open inquiries, a count the database keeps as inquiries come, move and go.

Routing weighs every candidate by their open inquiries at every post; counting them there
would read one assignee index entry per open inquiry, thousands for a busy contact. Triggers
on ``inquiries`` keep the number instead, so routing reads one row per contact
(crm.routing.services). A contact without a row has none open.

The count has a table of its own rather than a column on ``contacts``: a column there would
be stale in every session that loaded the contact, could be overwritten by a contact's edit,
import or merge, and each inquiry routed to a contact would rewrite the row staff edit.

The triggers are written here from OPEN_STATUS_ORDER for create_all (tests, the bench), and
into the migration that made the table (bf61c2a7d940) as literals: a change to the open
statuses needs a new migration that writes them again, which tests/test_migrations.py asks for.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import DDL, CheckConstraint, Column, ForeignKey, Integer, Table, event

from crm.extensions import db
from crm.models.inquiry import Inquiry
from crm.models.inquiry_status import OPEN_STATUS_ORDER

contact_open_loads = Table(
    "contact_open_loads",
    db.metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("open_inquiries", Integer, nullable=False),
    CheckConstraint("open_inquiries >= 0", name="not_negative"),
)
# Created after inquiries, whose triggers it brings, and dropped before it.
contact_open_loads.add_is_dependent_on(Inquiry.__table__)

FUNCTION = "contact_open_loads_apply"
TRIGGERS = ("trg_inquiries_open_load_insert", "trg_inquiries_open_load_update", "trg_inquiries_open_load_delete")


def _counted(row: str, statuses: Sequence[str]) -> str:
    """SQL: the inquiry ``row`` (NEW, OLD, a transition table's alias) counts towards its assignee."""
    listed = ", ".join(f"'{status}'" for status in statuses)
    return f"{row}.assigned_contact_id IS NOT NULL AND {row}.status IN ({listed})"


def _moves(table: str, delta: int, statuses: Sequence[str]) -> str:
    return f"SELECT moved.assigned_contact_id AS contact_id, {delta} AS delta FROM {table} AS moved WHERE {_counted('moved', statuses)}"  # noqa: S608 (the code's own names and statuses)


def postgresql_ddl(statuses: Sequence[str]) -> list[str]:
    """PostgreSQL: one trigger per statement, not per row. It sums what the statement changed
    per contact and updates their counts in the order of their ids, skipping those whose count
    stays the same: a statement that changes many inquiries locks each contact's count once,
    in the order every other statement locks them, so two single statements cannot deadlock
    on the counts; one that changes no open inquiry's assignee or status locks none.

    The locks are held until the transaction ends, so that holds for single statements only:
    a transaction that moves one inquiry, then another, takes the second move's counts while
    holding the first's, out of id order, and can deadlock with anyone moving a third between
    the same contacts (PostgreSQL then aborts one of them). A caller that moves several
    inquiries either moves them in one statement or commits each move on its own, as the
    acceptance-timers job does (crm.inquiries.acceptance_jobs); and keeps a transaction that
    moves any short, since every routed post to those contacts waits for its commit.

    Transition tables cannot go with a column list, so the UPDATE trigger sees every UPDATE of
    inquiries and finds most move nothing (the SLA jobs' marks move none, and lock no count).
    A negative change never inserts a row: the count of a contact being deleted is
    deleted with them (ON DELETE CASCADE) while their inquiries lose their assignee."""
    inserted = _moves("new_rows", 1, statuses)
    deleted = _moves("old_rows", -1, statuses)
    function = f"""CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    moves refcursor;
    change record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        OPEN moves FOR SELECT contact_id, sum(delta) AS delta FROM ({inserted}) AS counted
            GROUP BY contact_id ORDER BY contact_id;
    ELSIF TG_OP = 'DELETE' THEN
        OPEN moves FOR SELECT contact_id, sum(delta) AS delta FROM ({deleted}) AS counted
            GROUP BY contact_id ORDER BY contact_id;
    ELSE
        OPEN moves FOR SELECT contact_id, sum(delta) AS delta FROM ({deleted} UNION ALL {inserted}) AS counted
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
$body$"""  # noqa: S608 (the code's own names and statuses)
    return [
        function,
        f"CREATE TRIGGER {TRIGGERS[0]} AFTER INSERT ON inquiries REFERENCING NEW TABLE AS new_rows"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
        f"CREATE TRIGGER {TRIGGERS[1]} AFTER UPDATE ON inquiries REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
        f"CREATE TRIGGER {TRIGGERS[2]} AFTER DELETE ON inquiries REFERENCING OLD TABLE AS old_rows"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
    ]


def sqlite_ddl(statuses: Sequence[str]) -> list[str]:
    """SQLite: per row (it has no other kind); one writer at a time, so no lock order to keep.
    The update trigger runs only when the inquiry's assignee or open-ness changes."""
    add = (
        "INSERT INTO contact_open_loads (contact_id, open_inquiries) SELECT NEW.assigned_contact_id, 1"
        f" WHERE {_counted('NEW', statuses)}"
        " ON CONFLICT (contact_id) DO UPDATE SET open_inquiries = open_inquiries + 1;"
    )
    counted_before = _counted("OLD", statuses)
    take = f"UPDATE contact_open_loads SET open_inquiries = open_inquiries - 1 WHERE contact_id = OLD.assigned_contact_id AND {counted_before};"  # noqa: S608 (as above)
    moved = (
        f"OLD.assigned_contact_id IS NOT NEW.assigned_contact_id"
        f" OR ({_counted('OLD', statuses)}) IS NOT ({_counted('NEW', statuses)})"
    )
    return [
        f"CREATE TRIGGER {TRIGGERS[0]} AFTER INSERT ON inquiries BEGIN {add} END",
        f"CREATE TRIGGER {TRIGGERS[1]} AFTER UPDATE OF status, assigned_contact_id ON inquiries WHEN {moved}"
        f" BEGIN {take} {add} END",
        f"CREATE TRIGGER {TRIGGERS[2]} AFTER DELETE ON inquiries BEGIN {take} END",
    ]


def drop_ddl(dialect_name: str) -> list[str]:
    """What removes the triggers (and PostgreSQL's function) again."""
    on = " ON inquiries" if dialect_name == "postgresql" else ""
    statements = [f"DROP TRIGGER IF EXISTS {name}{on}" for name in TRIGGERS]
    if dialect_name == "postgresql":
        statements.append(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
    return statements


_STATUSES = [status.value for status in OPEN_STATUS_ORDER]
for _dialect, _statements in (("postgresql", postgresql_ddl(_STATUSES)), ("sqlite", sqlite_ddl(_STATUSES))):
    for _statement in _statements:
        event.listen(contact_open_loads, "after_create", DDL(_statement).execute_if(dialect=_dialect))
    for _statement in drop_ddl(_dialect):
        event.listen(contact_open_loads, "before_drop", DDL(_statement).execute_if(dialect=_dialect))
