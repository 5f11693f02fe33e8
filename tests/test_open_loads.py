"""Each contact's open inquiries, kept by the database's triggers (crm.models.open_load), on
SQLite and on PostgreSQL: every way an inquiry comes, moves or goes leaves the kept count equal
to a count of the open inquiries themselves."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import delete, func, insert, select, update

from crm.extensions import db
from crm.merging import services as merging
from crm.models import Contact, Inquiry, InquiryOutcome, Role
from crm.models.inquiry import open_clause
from crm.models.inquiry_status import InquiryStatus
from crm.models.open_load import contact_open_loads
from crm.routing import services as routing
from tests.factories import ContactFactory, UserFactory

_references = itertools.count(1)

# Each step is data: ("add", contact, status) stores an inquiry; ("status", n, status),
# ("assign", n, contact) and ("delete", n) change or remove the n-th inquiry added;
# ("assign_all", contact) reassigns every inquiry in one statement; ("delete_contact", contact).
CASES = [
    ("added open", [("add", "A", "new")], {"A": 1}),
    ("added assigned and in progress", [("add", "A", "assigned"), ("add", "A", "in_progress")], {"A": 2}),
    ("added unassigned", [("add", None, "new")], {}),
    ("added closed", [("add", "A", "closed")], {}),
    ("added as spam", [("add", "A", "spam")], {}),
    ("closed", [("add", "A", "responded"), ("status", 0, "closed")], {}),
    ("closed then reopened", [("add", "A", "responded"), ("status", 0, "closed"), ("status", 0, "in_progress")], {"A": 1}),
    ("marked spam then recovered", [("add", "A", "new"), ("status", 0, "spam"), ("status", 0, "new")], {"A": 1}),
    ("open to open", [("add", "A", "new"), ("status", 0, "assigned"), ("status", 0, "responded")], {"A": 1}),
    ("reassigned", [("add", "A", "assigned"), ("add", "A", "assigned"), ("assign", 0, "B")], {"A": 1, "B": 1}),
    ("assigned from no one", [("add", None, "new"), ("assign", 0, "B")], {"B": 1}),
    ("unassigned", [("add", "A", "assigned"), ("assign", 0, None)], {}),
    ("closed one reassigned", [("add", "A", "closed"), ("assign", 0, "B")], {}),
    ("deleted", [("add", "A", "new"), ("add", "A", "new"), ("delete", 0)], {"A": 1}),
    ("closed one deleted", [("add", "A", "new"), ("add", "A", "closed"), ("delete", 1)], {"A": 1}),
    (
        "all reassigned in one statement",
        [("add", "A", "new"), ("add", "B", "new"), ("add", "C", "assigned"), ("add", "A", "closed"), ("assign_all", "B")],
        {"B": 3},
    ),
    ("contact deleted", [("add", "A", "new"), ("add", "B", "new"), ("delete_contact", "A")], {"B": 1}),
    (
        "deleted contact's inquiry reassigned",
        [("add", "A", "new"), ("delete_contact", "A"), ("assign", 0, "B")],
        {"B": 1},
    ),
]


def _add(contact: Contact | None, status: str) -> int:
    values = {
        "reference": f"IM-LOAD{next(_references)}",
        "name": "Rosa Requester",
        "email": "rosa@example.net",
        "message": "We would like some help, please.",
        "status": InquiryStatus(status),
        "assigned_contact_id": contact.id if contact else None,
    }
    if status == "closed":
        values["outcome"] = InquiryOutcome.NOT_NEEDED
    return db.session.execute(insert(Inquiry).values(**values).returning(Inquiry.id)).scalar_one()


def _kept() -> dict[int, int]:
    """The kept counts above none (a row at none is as good as no row)."""
    rows = db.session.execute(select(contact_open_loads).where(contact_open_loads.c.open_inquiries != 0))
    return {contact_id: count for contact_id, count in rows}  # noqa: C416 (rows are Row objects)


def _counted() -> dict[int, int]:
    """The open inquiries per contact, counted over the inquiries themselves."""
    rows = db.session.execute(
        select(Inquiry.assigned_contact_id, func.count())
        .where(Inquiry.assigned_contact_id.is_not(None), open_clause())
        .group_by(Inquiry.assigned_contact_id)
    )
    return {contact_id: count for contact_id, count in rows}  # noqa: C416 (rows are Row objects)


@pytest.mark.parametrize(("steps", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_the_kept_count_follows_every_change(app_context, steps, expected):
    contacts = {name: ContactFactory(name=f"Contact {name}") for name in "ABC"}
    inquiries: list[int] = []
    for action, *arguments in steps:
        if action == "add":
            inquiries.append(_add(contacts.get(arguments[0]), arguments[1]))
        elif action == "status":
            values = {"status": InquiryStatus(arguments[1])}
            if arguments[1] == "closed":
                values["outcome"] = InquiryOutcome.NOT_NEEDED
            db.session.execute(update(Inquiry).where(Inquiry.id == inquiries[arguments[0]]).values(**values))
        elif action == "assign":
            contact = contacts.get(arguments[1])
            db.session.execute(
                update(Inquiry).where(Inquiry.id == inquiries[arguments[0]]).values(assigned_contact_id=contact and contact.id)
            )
        elif action == "assign_all":
            db.session.execute(update(Inquiry).values(assigned_contact_id=contacts[arguments[0]].id))
        elif action == "delete":
            db.session.execute(delete(Inquiry).where(Inquiry.id == inquiries[arguments[0]]))
        elif action == "delete_contact":
            # As the database does it, through the foreign key's ON DELETE SET NULL.
            db.session.execute(delete(Contact).where(Contact.id == contacts.pop(arguments[0]).id))
        else:
            raise AssertionError(action)

    names = {contact.id: name for name, contact in contacts.items()}
    kept = _kept()
    assert {names[contact_id]: count for contact_id, count in kept.items()} == expected
    assert kept == _counted()
    assert routing.open_inquiry_counts() == kept


def test_a_statement_that_moves_no_open_inquiry_changes_no_count(app_context):
    contact = ContactFactory()
    first, second = _add(contact, "new"), _add(contact, "closed")
    db.session.execute(update(Inquiry).where(Inquiry.id.in_([first, second])).values(spam_reason="checked"))
    assert routing.open_inquiry_counts() == {contact.id: 1}


def test_counts_of_the_contacts_asked_for(app_context):
    first, second, idle = ContactFactory(), ContactFactory(), ContactFactory()
    _add(first, "new"), _add(second, "new"), _add(second, "assigned")
    _add(idle, "assigned")
    db.session.execute(update(Inquiry).where(Inquiry.assigned_contact_id == idle.id).values(assigned_contact_id=None))

    # A contact whose count fell back to none is left out, as one who never had any.
    assert routing.open_inquiry_counts([second.id, idle.id]) == {second.id: 2}


def test_routing_weighs_the_kept_count(app_context):
    """Routing reads the number the database keeps; it counts no inquiries itself."""
    fallback = ContactFactory(is_inquiry_fallback=True)
    _add(fallback, "new")
    db.session.execute(update(contact_open_loads).values(open_inquiries=7))

    _candidates, candidate, _rows = routing.fresh_candidates(routing.routing_setup())

    assert (candidate.id, candidate.open_inquiries) == (fallback.id, 7)
    assert routing.open_inquiry_counts([fallback.id]) == {fallback.id: 7}


def test_a_recount_corrects_counts_the_triggers_did_not_keep(app, app_context):
    """As after a load with the triggers bypassed: one count too high, one missing, one for a
    contact with none open. The command puts each right and says how many were wrong."""
    too_high, missing, idle, right = (ContactFactory() for _ in range(4))
    _add(too_high, "new"), _add(missing, "new"), _add(missing, "assigned"), _add(right, "new")
    db.session.execute(update(contact_open_loads).where(contact_open_loads.c.contact_id == too_high.id).values(open_inquiries=9))
    db.session.execute(delete(contact_open_loads).where(contact_open_loads.c.contact_id == missing.id))
    db.session.execute(insert(contact_open_loads).values(contact_id=idle.id, open_inquiries=4))

    result = app.test_cli_runner().invoke(args=["crm", "recount-open-loads"])

    assert result.exit_code == 0, result.output
    assert "3 kept count(s) were wrong" in result.output
    assert _kept() == _counted() == {too_high.id: 1, missing.id: 2, right.id: 1}
    again = app.test_cli_runner().invoke(args=["crm", "recount-open-loads"])
    assert "0 kept count(s) were wrong" in again.output


# --- merging contacts ----------------------------------------------------------------------


def _merge_contacts(survivor: Contact, loser: Contact) -> None:
    staff = UserFactory(role=Role.STAFF)
    form = {"version": merging.version(survivor, loser)}
    form.update({f"field-{name}": "survivor" for name, _ in merging.CONTACTS.fields})
    merging.merge(merging.CONTACTS, survivor.id, loser.id, form, staff)


def test_a_merge_moves_the_merged_contacts_open_inquiries_once(app_context):
    """The merged contact's open inquiries move to the survivor, and its count with them: the
    survivor's count is what a count of its open inquiries gives, not twice that."""
    survivor = ContactFactory(name="Nora North", email="nora@work.example.org")
    loser = ContactFactory(name="Nora M. North", email="nora@home.example.org")
    _add(loser, "new"), _add(loser, "assigned")
    db.session.commit()

    _merge_contacts(survivor, loser)

    assert _counted() == {survivor.id: 2}
    assert _kept() == _counted()


def test_two_contacts_with_open_inquiries_can_be_merged(app_context):
    """A kept count is no record a person must choose between: both have one as soon as both
    have open inquiries, and the merge goes ahead with the sum."""
    survivor = ContactFactory(name="Nora North", email="nora@work.example.org")
    loser = ContactFactory(name="Nora M. North", email="nora@home.example.org")
    _add(survivor, "new"), _add(loser, "new"), _add(loser, "in_progress")
    db.session.commit()

    _merge_contacts(survivor, loser)

    assert _kept() == _counted() == {survivor.id: 3}


# --- locks on PostgreSQL -------------------------------------------------------------------


def test_the_acceptance_job_and_a_staff_reassignment_between_the_same_contacts_do_not_deadlock(database_url, tmp_path):
    """The acceptance-timers job moves two inquiries on, the first from P and the second from
    Q, both to N (the fallback); between its two moves, staff reassign a third from P to Q in
    the app. Each statement locks its counts in the order of the contacts' ids; a job holding
    the first move's counts (P's) while it takes the second's (Q's) would wait for the staff's
    request, which holds Q's and waits for P's: a deadlock, and one of them fails. Each move
    commits on its own, so both go through. (After a review's proof of the deadlock in SQL.)"""
    import threading
    from datetime import timedelta

    from sqlalchemy.engine import make_url

    from config import TestConfig
    from crm import create_app
    from crm.inquiries import acceptance_jobs
    from tests.conftest import TEST_PASSWORD
    from tests.factories import NOW, InquiryFactory, OrganisationFactory
    from tests.fixtures_database import database_of_its_own

    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("row locks of PostgreSQL's statement triggers")
    with database_of_its_own(database_url, tmp_path, "loads") as (url, options):
        # Never wait for ever: a lock still held after 10 s fails the test instead.
        options["connect_args"]["options"] += " -c lock_timeout=10s"
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options)
        with app.app_context():
            db.create_all()
            foundation = OrganisationFactory(name="The Foundation")
            # Q before P: the staff's statement locks Q's count, then P's.
            q, p = (ContactFactory(name=f"Contact {name}", organisation=foundation, accepts_inquiries=True) for name in "QP")
            n = ContactFactory(name="Contact N", organisation=foundation, accepts_inquiries=True, is_inquiry_fallback=True)
            UserFactory(role=Role.STAFF, email="staff@example.org")
            first, second, other = (InquiryFactory(now=NOW) for _ in range(3))
            for inquiry, contact, due in ((first, p, NOW), (second, q, NOW + timedelta(minutes=1)), (other, p, None)):
                db.session.execute(
                    update(Inquiry)
                    .where(Inquiry.id == inquiry.id)
                    .values(assigned_contact_id=contact.id, acceptance_due_at=due)
                )
            db.session.commit()
            ids = {"first": first.id, "second": second.id, "other": other.id, "p": p.id, "q": q.id, "n": n.id}
            db.session.remove()

        client = app.test_client()
        assert client.post("/login", data={"email": "staff@example.org", "password": TEST_PASSWORD}).status_code == 302
        answers: list[int | str] = []

        def staff_reassigns() -> None:
            try:
                response = client.post(f"/inquiries/{ids['other']}/assign", data={"contact_id": str(ids["q"])})
                answers.append(response.status_code)
            except Exception as error:  # noqa: BLE001  (a 500 outside tests: reported by the assertion below)
                answers.append(repr(error))

        move_unaccepted = acceptance_jobs.move_unaccepted
        calls: list[int] = []

        def staff_meanwhile(inquiry, now):
            calls.append(inquiry.id)
            if len(calls) == 2:
                db.session.flush()  # the first move is written, as the second's first read would
                reassignment = threading.Thread(target=staff_reassigns)
                reassignment.start()
                reassignment.join(1.0)  # done, or waiting for a count the job holds
                staff_meanwhile.thread = reassignment
            return move_unaccepted(inquiry, now)

        with app.app_context():
            acceptance_jobs.move_unaccepted = staff_meanwhile
            try:
                moved = acceptance_jobs.run_acceptance_timers(NOW + timedelta(minutes=2))
                job_error = None
            except Exception as error:  # noqa: BLE001  (reported by the assertion below)
                moved, job_error = [], repr(error)
                db.session.rollback()
            finally:
                acceptance_jobs.move_unaccepted = move_unaccepted
            staff_meanwhile.thread.join(20)
            db.session.expire_all()
            assigned = {
                name: db.session.get(Inquiry, ids[name]).assigned_contact_id for name in ("first", "second", "other")
            }
            kept, counted = _kept(), _counted()
            db.session.remove()
            db.engine.dispose()

    assert job_error is None
    assert answers == [302]
    assert len(moved) == 2
    assert assigned == {"first": ids["n"], "second": ids["n"], "other": ids["q"]}
    assert kept == counted
