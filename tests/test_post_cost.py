"""What a public post costs, and the per-process reference cache that keeps it cheap.

A post reads its reference data (topics, counties, rules, calendars) from crm.reference_cache
and its candidates, with their open inquiries, in one statement; these tests hold it to a
fixed handful of statements whatever the load, check that the open counts routing sees stay
right through every state change, and that an edit takes effect at once in this process and
within REFERENCE_CACHE_SECONDS in another.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from flask import render_template, request
from flask_babel import force_locale
from sqlalchemy import event, func, select, text, update
from sqlalchemy.orm import Session

from crm import audit, reference_cache
from crm.extensions import db
from crm.inquiries import accepting, intake
from crm.inquiries import services as inquiry_services
from crm.inquiries.held_posts import file_held_posts
from crm.inquiries.intake import InquiryDetails
from crm.mail.outbox import render_email
from crm.models import AuditEvent, Contact, HeldPost, Inquiry, InquiryOutcome, OutboundEmail, Role, RoutingRule
from crm.models.inquiry import open_clause
from crm.models.inquiry_status import InquiryStatus
from crm.public.services import Sending
from crm.routing import services as routing
from tests.factories import NOW, InquiryFactory, UserFactory
from tests.public_support import GENEROUS_LIMIT, app_config, valid_form
from tests.query_plans import plan, statement_objects_run, statements_run

FORM_SETTINGS = {
    "PUBLIC_FORM_MIN_SECONDS": 0,
    "PUBLIC_FORM_RATE_LIMIT": GENEROUS_LIMIT,
    "PUBLIC_FORM_REFUSED_RATE_LIMIT": GENEROUS_LIMIT,
}
# The candidates with their open counts (the chosen contact's record among them); the topic
# comes from the reference cache, the duplicate check is part of the inquiry's INSERT (read
# only when it refuses the send), and everything else a post sends is a write (the inquiry,
# its timeline, the contact's turn, the two emails, the audit entries).
MOST_READS_PER_POST = 1
# On PostgreSQL one SELECT more, which reads nothing: the lock that holds off a send of the same
# words at once (intake.wait_for_the_same_words).
SAME_WORDS_LOCK = "SELECT PG_ADVISORY_XACT_LOCK("
# The tables a routed post writes, each in one statement, inserted as values
# (crm.audit.insert_rows); the contact's turn is one UPDATE (routing.take_turn).
TABLES_WRITTEN = ["inquiries", "outbound_emails", "inquiry_events", "audit_events"]


@contextmanager
def statements(words: int | None = 1) -> Iterator[list[str]]:
    """The first ``words`` words of every statement sent, upper-cased (None: all of it)."""
    seen: list[str] = []

    def note(_connection, _cursor, statement, *_args) -> None:
        seen.append(" ".join(statement.split()[:words]).upper())

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def _post(client, world, number: int):
    data = valid_form(client, email=f"family{number}@example.net", zip_code="63857", topic=str(world.home_visits.id))
    return client.post("/get-in-touch", data=data)


def test_a_post_costs_the_same_few_statements_however_many_inquiries_are_open(app, client, world, count_queries):
    with app_config(app, **FORM_SETTINGS):
        assert _post(client, world, 0).status_code == 302  # the first reads the reference data
        data = valid_form(client, email="family1@example.net", zip_code="63857", topic=str(world.home_visits.id))
        with statements(words=2) as quiet:
            assert client.post("/get-in-touch", data=data).status_code == 302

        for number in range(30):
            InquiryFactory(topic=world.home_visits, email=f"earlier{number}@example.net")
        data = valid_form(client, email="family2@example.net", zip_code="63857", topic=str(world.home_visits.id))
        with count_queries() as counter:
            assert client.post("/get-in-touch", data=data).status_code == 302

    locks = [statement for statement in quiet if statement.startswith(SAME_WORDS_LOCK)]
    assert len(locks) == (1 if db.engine.dialect.name == "postgresql" else 0)
    reads = [statement for statement in quiet if statement.startswith("SELECT") and statement not in locks]
    assert len(reads) <= MOST_READS_PER_POST
    assert counter.count == len(quiet)


def test_a_post_inserts_into_each_table_once(app, client, world):
    with app_config(app, **FORM_SETTINGS):
        assert _post(client, world, 0).status_code == 302
        data = valid_form(client, email="family1@example.net", zip_code="63857", topic=str(world.home_visits.id))
        with statements(words=3) as sent:
            assert client.post("/get-in-touch", data=data).status_code == 302
    inserts = [statement.split()[2].strip('"').lower() for statement in sent if statement.startswith("INSERT INTO")]
    assert sorted(set(inserts)) == sorted(TABLES_WRITTEN)
    assert [statement for statement in sent if statement.startswith("UPDATE")] == ["UPDATE CONTACTS SET"]
    if db.engine.dialect.name == "postgresql":
        # SQLite cannot return the ids of a multi-row insert in order, so it sends a row at a time.
        assert sorted(inserts) == sorted(TABLES_WRITTEN)
    inquiry = db.session.scalar(select(Inquiry).where(Inquiry.email == "family1@example.net"))
    kinds = [event.kind for event in sorted(inquiry.events, key=lambda event: event.id)]
    assert kinds == ["received", "routed", "email_queued", "email_queued"]
    emails = db.session.scalars(select(OutboundEmail.kind).where(OutboundEmail.inquiry_id == inquiry.id))
    assert sorted(emails) == ["contact_notice", "requester_ack"]


def test_a_post_leaves_nothing_to_the_unit_of_work(app, client, world):
    """The inquiry, its timeline, its emails and the audit entries are inserted as values
    (crm.audit.insert_rows), and the contact's turn is one UPDATE (routing.take_turn): the
    post has nothing to flush, and the trail still has every change."""
    flushed: list[str] = []

    def note(session, _context, _instances) -> None:
        flushed.extend(type(record).__name__ for record in session.new)
        flushed.extend(type(record).__name__ + " (changed)" for record in session.dirty if session.is_modified(record))

    with app_config(app, **FORM_SETTINGS):
        assert _post(client, world, 0).status_code == 302
        data = valid_form(client, email="family1@example.net", zip_code="63857", topic=str(world.home_visits.id))
        event.listen(Session, "before_flush", note)
        try:
            assert client.post("/get-in-touch", data=data).status_code == 302
        finally:
            event.remove(Session, "before_flush", note)
    assert flushed == []
    inquiry = db.session.scalar(select(Inquiry).where(Inquiry.email == "family1@example.net"))
    assert inquiry.topic_id == world.home_visits.id
    assert inquiry.assigned_contact_id in {world.nora.id, world.ned.id}
    turn = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "Contact", AuditEvent.entity_id == str(inquiry.assigned_contact_id))
    ).all()
    assert [entry.action for entry in turn][-1:] == ["update"]
    assert turn[-1].changes["last_assigned_at"][1] == inquiry.received_at.isoformat()
    created = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "Inquiry", AuditEvent.entity_id == str(inquiry.id))
    ).all()
    assert [entry.action for entry in created] == ["create"]
    assert created[0].changes["topic_id"] == [None, world.home_visits.id]


def test_a_post_renders_its_emails_without_the_pages_context_processors(app, client, world):
    """The two emails are rendered with the Jinja environment alone (crm.mail.outbox.render_email):
    the context processors, which work out the page's language links and the signed-in user,
    serve pages, and a successful send renders no page."""
    calls: list[str] = []

    def counted() -> dict[str, object]:
        calls.append(request.path)
        return {}

    with app_config(app, **FORM_SETTINGS):
        assert _post(client, world, 0).status_code == 302
        data = valid_form(client, email="family1@example.net", zip_code="63857", topic=str(world.home_visits.id))
        processors = app.template_context_processors[None]
        processors.append(counted)
        try:
            assert client.post("/get-in-touch", data=data).status_code == 302
        finally:
            processors.remove(counted)
    assert calls == []
    inquiry = db.session.scalar(select(Inquiry).where(Inquiry.email == "family1@example.net"))
    bodies = dict(db.session.execute(select(OutboundEmail.kind, OutboundEmail.body_text).where(OutboundEmail.inquiry_id == inquiry.id)).all())
    assert inquiry.reference in bodies["requester_ack"]
    assert inquiry.reference in bodies["contact_notice"]


def test_an_email_reads_the_same_rendered_with_or_without_the_context_processors(app, world):
    inquiry = InquiryFactory(topic=world.home_visits, email="family@example.net", language="es")
    context = {"inquiry": inquiry, "organisation_name": "North Families", "opt_out_url": "https://example.org/opt-out"}
    with app.test_request_context("/get-in-touch", method="POST"), force_locale("es"):
        assert render_email("email/requester_ack.txt", **context) == render_template("email/requester_ack.txt", **context)


def test_a_post_takes_its_topic_from_the_reference_cache(app, client, world):
    with app_config(app, **FORM_SETTINGS):
        assert _post(client, world, 0).status_code == 302  # the topics are read and kept
        db.session.expunge_all()  # nothing left in the session to find the topic in
        data = valid_form(client, email="family1@example.net", zip_code="63857", topic=str(world.home_visits.id))
        with statements(words=None) as sent:
            assert client.post("/get-in-touch", data=data).status_code == 302
    assert not [statement for statement in sent if "FROM TOPICS" in statement]
    inquiry = db.session.scalar(select(Inquiry).where(Inquiry.email == "family1@example.net"))
    assert inquiry.topic_id == world.home_visits.id
    assert inquiry.acceptance_due_at is not None


def test_spam_is_stored_without_routing_it(app, client, world):
    with app_config(app, **FORM_SETTINGS):
        assert _post(client, world, 0).status_code == 302
        data = valid_form(client, email="bot@example.net", topic=str(world.home_visits.id), website="http://spam.example")
        with statements() as sent:
            assert client.post("/get-in-touch", data=data).status_code == 302
    # Held before any routing work: one insert, nothing read (crm.inquiries.held_posts).
    assert "SELECT" not in sent
    assert "UPDATE" not in sent
    assert sent.count("INSERT") == 1
    assert file_held_posts() == (1, 0)
    spam = db.session.scalar(select(Inquiry).where(Inquiry.email == "bot@example.net"))
    assert spam.status is InquiryStatus.SPAM
    assert spam.assigned_contact_id is None


# --- the open counts least-loaded routing reads --------------------------------------------


def test_a_held_send_reuses_its_statement(app, client, world):
    """A flood's sends are held (crm.inquiries.held_posts): the statement that stores one is
    built once per process, not at every send."""
    with app_config(app, **FORM_SETTINGS), statement_objects_run() as ran:
        for number in range(2):
            data = valid_form(client, email=f"bot{number}@example.net", topic=str(world.home_visits.id), website="http://spam.example")
            assert client.post("/get-in-touch", data=data).status_code == 302
    executed = [clause for clause in ran if getattr(clause, "table", None) is HeldPost.__table__]
    assert len(executed) == 2
    assert executed[0] is executed[1]
    assert db.session.scalar(select(func.count()).select_from(HeldPost)) == 2


def _seen_by_routing() -> dict[int, int]:
    candidates, fallback, _records = routing.fresh_candidates(routing.routing_setup())
    return {candidate.id: candidate.open_inquiries for candidate in [*candidates, fallback]}


def _counted() -> dict[int, int]:
    rows = db.session.execute(
        select(Inquiry.assigned_contact_id, func.count()).where(open_clause()).group_by(Inquiry.assigned_contact_id)
    )
    return {contact_id: count for contact_id, count in rows if contact_id is not None}


def _assert_counts_right(world) -> None:
    seen, counted = _seen_by_routing(), _counted()
    for contact in (world.nora, world.ned, world.sam, world.fallback):
        assert seen[contact.id] == counted.get(contact.id, 0), contact.name


def test_open_counts_follow_every_state_change(app, world):
    manager = UserFactory(role=Role.MANAGER)
    now = NOW
    first = InquiryFactory(topic=world.home_visits, email="one@example.net")
    second = InquiryFactory(topic=world.home_visits, email="two@example.net")
    assert {first.assigned_contact_id, second.assigned_contact_id} == {world.nora.id, world.ned.id}
    _assert_counts_right(world)
    assert _seen_by_routing()[world.nora.id] == 1

    steps = [
        lambda: accepting.accept(first, manager, now, shown_contact_id=first.assigned_contact_id),
        lambda: inquiry_services.assign(first, world.sam, manager, now),  # reassigned
        lambda: accepting.pass_on(
            first, "no_capacity", "", manager, now, shown_contact_id=first.assigned_contact_id
        ),  # passed on
        lambda: inquiry_services.change_status(second, InquiryStatus.IN_PROGRESS, manager, now),
        lambda: inquiry_services.log_response(second, "Called back.", "phone", manager, now),
        lambda: inquiry_services.change_status(
            second, InquiryStatus.CLOSED, manager, now, inquiry_services.Outcome(InquiryOutcome.NOT_NEEDED)
        ),
        lambda: inquiry_services.change_status(second, InquiryStatus.IN_PROGRESS, manager, now),  # reopened
        lambda: inquiry_services.change_status(first, InquiryStatus.SPAM, manager, now),
        lambda: inquiry_services.change_status(first, InquiryStatus.NEW, manager, now),  # not spam: routed again
    ]
    for step in steps:
        now += timedelta(minutes=5)
        step()
        _assert_counts_right(world)
    assert sum(_seen_by_routing().values()) == 2


def test_least_loaded_routing_reads_the_counts(app, world):
    for number in range(3):
        inquiry = InquiryFactory(topic=world.home_visits, email=f"load{number}@example.net")
        if inquiry.assigned_contact_id != world.nora.id:
            inquiry_services.assign(inquiry, world.nora, UserFactory(role=Role.STAFF), NOW)
    nextone = InquiryFactory(topic=world.home_visits, email="next@example.net")
    assert nextone.assigned_contact_id == world.ned.id
    assert "fewest open inquiries" in nextone.routing_reason


# --- the reference cache --------------------------------------------------------------------


def test_an_edit_in_this_process_takes_effect_at_once(app, world):
    assert InquiryFactory(topic=world.doulas).assigned_contact_id == world.sam.id
    rule = db.session.scalar(select(RoutingRule).where(RoutingRule.name == "Doulas to South"))
    rule.active = False
    db.session.commit()
    assert InquiryFactory(topic=world.doulas).assigned_contact_id == world.fallback.id


def test_a_contact_who_now_handles_topics_is_seen_at_once(app, world):
    world.nora.topics = [world.doulas]
    db.session.commit()
    routed = [InquiryFactory(topic=world.home_visits, email=f"visit{n}@example.net") for n in range(2)]
    assert {inquiry.assigned_contact_id for inquiry in routed} == {world.ned.id}


def test_who_is_away_is_read_fresh_with_every_post(app, world):
    InquiryFactory(topic=world.home_visits)  # the reference data is read and kept
    # Written behind the session's back, as another process would: the cache is not told.
    db.session.execute(text("UPDATE contacts SET accepts_inquiries = false WHERE id = :id"), {"id": world.nora.id})
    db.session.execute(text("UPDATE contacts SET accepts_inquiries = false WHERE id = :id"), {"id": world.ned.id})
    db.session.expire_all()
    assert InquiryFactory(topic=world.home_visits, email="later@example.net").assigned_contact_id == world.fallback.id


def test_an_edit_in_another_process_takes_effect_within_the_cache_time(app, world, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(reference_cache.time, "monotonic", lambda: clock[0])
    assert InquiryFactory(topic=world.doulas).assigned_contact_id == world.sam.id
    # Another process turns the rule off; this one is not told.
    db.session.execute(text("UPDATE routing_rules SET active = false WHERE name = 'Doulas to South'"))
    db.session.expire_all()

    clock[0] += app.config["REFERENCE_CACHE_SECONDS"] - 1
    assert InquiryFactory(topic=world.doulas, email="b@example.net").assigned_contact_id == world.sam.id
    clock[0] += 2
    assert InquiryFactory(topic=world.doulas, email="c@example.net").assigned_contact_id == world.fallback.id


def test_a_value_read_while_the_cache_is_emptied_is_not_kept():
    cache = reference_cache.ReferenceCache()

    def load_during_an_edit():
        cache.clear()
        return "read before the edit"

    assert cache.get("rules", load_during_an_edit, max_age=30) == "read before the edit"
    assert cache.get("rules", lambda: "read after", max_age=30) == "read after"
    assert cache.get("rules", lambda: "not read again", max_age=30) == "read after"


def test_no_cache_time_reads_every_time(app):
    with app_config(app, REFERENCE_CACHE_SECONDS=0):
        calls = []
        reference_cache.cached("x", lambda: calls.append(1) or len(calls))
        reference_cache.cached("x", lambda: calls.append(1) or len(calls))
    assert len(calls) == 2


# --- the reference and the duplicate check, both in the inquiry's INSERT ----------------------


def test_a_reference_in_use_is_replaced(app, world):
    earlier = InquiryFactory(topic=world.home_visits, email="first@example.net")
    details = InquiryDetails(
        name="Sam Other", email="other@example.net", phone="", zip_code="", topic=world.home_visits,
        language="en", message="Another message altogether.", consent=True,
    )  # fmt: skip

    received = intake.take_in(details, NOW, reference=earlier.reference)

    assert not received.duplicate
    assert received.inquiry.reference != earlier.reference
    assert received.inquiry.reference.startswith("IM-")


def test_a_duplicate_is_found_whatever_the_reference(app, world):
    earlier = InquiryFactory(topic=world.home_visits, email="first@example.net", message="Same words.")
    details = InquiryDetails(
        name="Alex Requester", email="FIRST@example.net", phone="", zip_code="", topic=world.home_visits,
        language="en", message="Same   words.", consent=True,
    )  # fmt: skip

    assert intake.take_in(details, NOW + timedelta(minutes=1)).inquiry == earlier
    assert intake.take_in(details, NOW + timedelta(minutes=1), reference=earlier.reference).inquiry == earlier


def test_a_repeated_send_is_refused_by_the_insert_and_writes_nothing(app, world):
    """The duplicate check is the inquiry's INSERT itself: a send that repeats one is routed,
    refused, then looked up; nothing of it is written, nor noted for the trail."""
    earlier = InquiryFactory(topic=world.home_visits, email="first@example.net", message="Same words.")
    details = InquiryDetails(
        name="Alex Requester", email="first@example.net", phone="", zip_code="63857", topic=world.home_visits,
        language="en", message="Same words.", consent=True,
    )  # fmt: skip
    db.session.commit()
    counted = {model: db.session.scalar(select(func.count()).select_from(model)) for model in (Inquiry, OutboundEmail, AuditEvent)}
    with statements() as sent:
        received = intake.take_in(details, NOW + timedelta(minutes=1))
        audit.commit(None)
    assert received.duplicate
    assert received.inquiry == earlier
    # Routing's reads, the refused INSERT, then the look-up of the send it repeats.
    assert [statement for statement in sent if statement in {"INSERT", "UPDATE", "DELETE"}] == ["INSERT"]
    assert sent[sent.index("INSERT") + 1] == "SELECT"
    assert {model: db.session.scalar(select(func.count()).select_from(model)) for model in counted} == counted


def test_a_retried_send_confirms_only_its_own_inquiry(app, world):
    """A first attempt whose reference turned out to be in use stored its inquiry under
    another one; the retry must not confirm the inquiry that holds the reference."""
    other = InquiryFactory(topic=world.home_visits, email="other@example.net")
    details = InquiryDetails(
        name="Jo Family", email="jo@example.net", phone="", zip_code="", topic=world.home_visits,
        language="en", message="Our own message.", consent=True,
    )  # fmt: skip
    sending = Sending(now=NOW, reference=other.reference)

    confirmation = sending.send(details)

    assert confirmation.reference != other.reference
    mine = db.session.scalar(select(Inquiry).where(Inquiry.reference == confirmation.reference))
    assert mine.email == "jo@example.net"


def test_the_fallback_contact_is_found_through_its_partial_index(app, world):
    """The candidates' statement and the fallback's own look-up name the fallback as the
    partial unique index uq_contacts_inquiry_fallback does (``is_inquiry_fallback``): written
    ``IS true``, PostgreSQL cannot prove the index's condition and reads every contact, twice a
    post where no rule places it."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite, for local work, plans a contacts table of a few rows as it likes")
    with statements_run() as ran:
        routing.fresh_candidates(routing.routing_setup())
        routing.current_fallback()
    lookups = [(statement, parameters) for statement, parameters in ran if "is_inquiry_fallback" in statement]
    assert len(lookups) == 2
    for statement, parameters in lookups:
        assert "uq_contacts_inquiry_fallback" in plan(statement, parameters)


# --- what routing reads ---------------------------------------------------------------------


def _candidate_reads(ran: list[tuple[str, object]]) -> list[list[object]]:
    """The parameters of each candidates' statement (a dict on PostgreSQL, a tuple on SQLite)."""
    return [
        list(parameters.values()) if isinstance(parameters, dict) else list(parameters)
        for statement, parameters in ran
        if "FROM contacts" in statement and "is_inquiry_fallback" in statement
    ]


def test_routing_reads_only_the_contacts_of_the_rules_the_request_matches(app, world):
    """Home visits go to North by their rule: South's contacts (the doulas' rule) are not read."""
    with statements_run() as ran:
        outcome = routing.decide("63857", world.home_visits, "en", NOW)
    assert outcome.decision.contact.id in {world.nora.id, world.ned.id}
    [parameters] = _candidate_reads(ran)
    assert world.north.id in parameters
    assert world.south.id not in parameters


def test_the_chosen_contact_and_organisation_are_stored_from_the_row_read(app, world):
    """Storing the choice reads neither the contact nor their organisation again."""
    outcome = routing.decide("63857", world.home_visits, "en", NOW)
    db.session.expunge_all()
    inquiry = InquiryFactory(topic=world.home_visits)
    with statements() as sent:
        contact = routing.apply_decision(inquiry, outcome, NOW)
        assert intake.answering_name(contact) == "North Families"
    assert sent == []
    db.session.flush()
    with statements(words=3) as turn:
        routing.take_turn(contact, NOW)
    assert turn == ["UPDATE CONTACTS SET"]
    assert contact.last_assigned_at == NOW
    assert not db.session.is_modified(contact)
    stored_at = db.session.scalar(select(Contact.updated_at).where(Contact.id == contact.id))
    assert contact.updated_at == stored_at
    db.session.commit()
    assert db.session.get(Inquiry, inquiry.id).assigned_contact_id == contact.id
    db.session.expire_all()
    assert contact.last_assigned_at == NOW


def test_a_record_read_as_values_yields_to_the_sessions_own_copy(app, world):
    """A contact the session holds, with a change not yet flushed, keeps the change."""
    from crm.database import as_read
    from crm.models import Contact

    nora = db.session.get(Contact, world.nora.id)
    nora.name = "Nora (edited)"
    values = {attribute.key: getattr(world.nora, attribute.key) for attribute in db.inspect(Contact).column_attrs}
    values["name"] = "Nora North"
    assert as_read(db.session, Contact, values) is nora
    assert nora.name == "Nora (edited)"


def test_a_record_read_as_values_is_stored_and_tracks_its_changes(app, world):
    """As if a SELECT had read it: nothing to write until it is changed, then only the change."""
    from crm.database import as_read
    from crm.models import Contact

    values = {attribute.key: getattr(world.nora, attribute.key) for attribute in db.inspect(Contact).column_attrs}
    db.session.expunge_all()
    nora = as_read(db.session, Contact, values)
    assert db.inspect(nora).persistent
    assert not db.session.is_modified(nora)
    assert (nora.name, nora.languages, nora.organisation.name) == ("Nora North", world.nora.languages, "North Families")
    nora.title = "Coordinator"
    with statements(words=None) as sent:
        db.session.flush()
    [update] = [statement for statement in sent if statement.startswith("UPDATE")]
    assert update.startswith("UPDATE CONTACTS SET TITLE=")
    assert "NAME" not in update


def test_a_record_read_from_some_columns_reads_the_rest_when_asked(app, world):
    """The columns left out are not taken for empty: the first one asked for reads them."""
    from crm.database import as_read
    from crm.models import Contact

    db.session.execute(update(Contact).where(Contact.id == world.nora.id).values(notes="Mornings only", title="Coordinator"))
    db.session.expunge_all()
    nora = as_read(db.session, Contact, {"id": world.nora.id, "name": "Nora North", "organisation_id": world.nora.organisation_id})
    assert not db.session.is_modified(nora)
    with statements() as sent:
        assert nora.name == "Nora North"
    assert sent == []
    with statements() as sent:
        assert (nora.notes, nora.title) == ("Mornings only", "Coordinator")
    assert sent == ["SELECT"]


def test_the_candidates_are_read_without_the_columns_routing_does_not_weigh(app, world):
    """Dozens of rows a post: of each contact what the engine weighs, of their organisation
    its name; not the notes, roles or descriptions, which the chosen one's record reads if
    asked (as_read)."""
    with statements_run() as ran:
        candidates, _fallback, rows = routing.fresh_candidates(routing.routing_setup())
    [statement] = [statement for statement, _parameters in ran if "FROM contacts" in statement]
    for column in ("contacts.notes", "contacts.roles", "organisations.description", "contacts.created_at"):
        assert column not in statement
    nora_row = rows[world.nora.id]
    db.session.expunge_all()
    nora = routing.chosen_records(nora_row)
    with statements() as sent:
        assert (nora.name, nora.email, nora.organisation.name) == ("Nora North", world.nora.email, "North Families")
    assert sent == []
    assert {candidate.id for candidate in candidates} >= {world.nora.id, world.ned.id}
    assert nora.roles == world.nora.roles  # read now, when asked


def test_the_candidates_open_inquiries_are_read_as_kept_not_counted(app, world):
    """One row of contact_open_loads per candidate, kept by the database's triggers
    (crm.models.open_load): the statement reads no inquiry, however many a contact has open,
    and so names no status, written in or sent."""
    with statements_run() as ran:
        routing.fresh_candidates(routing.routing_setup())
    [(statement, parameters)] = [(statement, parameters) for statement, parameters in ran if "FROM contacts" in statement]
    assert "contact_open_loads" in statement
    assert "inquiries." not in statement
    sent = parameters.values() if isinstance(parameters, dict) else parameters
    assert not {status.value for status in InquiryStatus} & {value for value in sent if isinstance(value, str)}


def test_a_contact_the_session_moved_keeps_their_new_organisation(app, world):
    """The row read names the contact's organisation as stored; the session's copy, moved to
    another and not yet flushed, keeps the one it was moved to."""
    from crm.models import Contact

    _candidates, _fallback, rows = routing.fresh_candidates(routing.routing_setup())
    db.session.expunge_all()
    nora = db.session.get(Contact, world.nora.id)
    nora.organisation_id = world.south.id
    with db.session.no_autoflush:
        contact = routing.chosen_records(rows[world.nora.id])
        assert contact is nora
        assert contact.organisation.name == "South Start"
