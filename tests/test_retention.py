"""Retention: closed and spam inquiries past the retention period lose their personal details."""

from __future__ import annotations

import json
from datetime import timedelta

import factory
import pytest
from sqlalchemy import select

from crm import audit
from crm.database import utcnow
from crm.extensions import db
from crm.inquiries.retention import ANONYMISED_NAME, purge_command, retention_purge_job
from crm.mail.outbox import queue_email
from crm.models import (
    AttemptMethod,
    AuditEvent,
    ContactAttempt,
    EmailStatus,
    HeldPost,
    Inquiry,
    InquiryEvent,
    InquiryEventKind,
    InquiryOutcome,
    OutboundEmail,
)
from crm.models.inquiry_status import InquiryStatus
from crm.reports import services
from tests import factories
from tests import report_reference as reference

SECRET = "We lost our daughter in March and I need help with the funeral costs"
PHONE = "(573) 555-0142"


class InquiryFactory(factories.BaseFactory):
    class Meta:
        model = Inquiry

    reference = factory.Sequence(lambda n: f"RN-{n:06d}")
    received_at = factory.LazyFunction(lambda: utcnow() - timedelta(days=900))
    name = factory.Sequence(lambda n: f"Requester {n}")
    email = factory.Sequence(lambda n: f"requester{n}@example.net")
    phone = PHONE
    zip_code = "63857"
    state = "MO"
    message = SECRET
    dedupe_key = "a" * 64
    status = InquiryStatus.CLOSED
    outcome = factory.LazyAttribute(lambda o: InquiryOutcome.OTHER if o.status is InquiryStatus.CLOSED else None)
    language = "es"


def days_ago(days: int):
    return utcnow() - timedelta(days=days)


@pytest.fixture
def inquiries(app):
    """One of each case; the old closed one has the full trail: events, emails and audit entries."""
    county = factories.CountyFactory(fips="29069", name="Dunklin County")
    contact = factories.ContactFactory(name="Marcus Hale", email="marcus@example.org")
    old_closed = Inquiry(
        reference="RN-OLD-CLOSED",
        received_at=days_ago(900),
        name="Maria Requester",
        email="maria.requester@example.net",
        phone=PHONE,
        zip_code="63857",
        state="MO",
        county_fips=county.fips,
        language="es",
        message=SECRET,
        dedupe_key="b" * 64,
        status=InquiryStatus.CLOSED,
        outcome=InquiryOutcome.OTHER,
        outcome_detail="Maria moved to her sister's in Memphis",
        first_response_at=days_ago(899),
        closed_at=days_ago(800),
        assigned_contact=contact,
    )
    db.session.add(old_closed)
    audit.commit(actor=None)  # the create entry copies every field, the message included
    old_closed.events.append(InquiryEvent(kind=InquiryEventKind.NOTE, detail="Called Maria back about the funeral costs"))
    queue_email(kind="requester_ack", to_address=old_closed.email, subject="We received your message", body_text=f"You wrote: {SECRET}", inquiry=old_closed)
    queue_email(kind="contact_notice", to_address=contact.email, subject="New inquiry", body_text="Hello Marcus, sign in.", inquiry=old_closed)
    old_closed.phone = "(573) 555-0199"  # an update entry with a before and an after
    audit.commit(actor=None)
    return {
        "old_closed": old_closed,
        "old_spam": InquiryFactory(reference="RN-OLD-SPAM", status=InquiryStatus.SPAM, received_at=days_ago(800)),
        "recent_closed": InquiryFactory(reference="RN-RECENT", closed_at=days_ago(100), first_response_at=days_ago(101)),
        "old_open": InquiryFactory(reference="RN-OLD-OPEN", status=InquiryStatus.RESPONDED, first_response_at=days_ago(850)),
        "recent_spam": InquiryFactory(reference="RN-NEW-SPAM", status=InquiryStatus.SPAM, received_at=days_ago(10)),
    }


def invoke(app, *args, input=None):
    result = app.test_cli_runner().invoke(purge_command, list(args), input=input)
    db.session.expire_all()
    return result


def anonymised(inquiries) -> set[str]:
    return {key for key, inquiry in inquiries.items() if db.session.get(Inquiry, inquiry.id).anonymised_at is not None}


def test_dry_run_lists_what_would_change_and_changes_nothing(app, inquiries):
    before = {key: (inquiry.name, inquiry.email, inquiry.message) for key, inquiry in inquiries.items()}
    audit_before = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))

    result = invoke(app, "--dry-run")

    assert result.exit_code == 0, result.output
    assert "2 inquiries" in result.output
    assert "RN-OLD-CLOSED" in result.output
    assert "RN-OLD-SPAM" in result.output
    for untouched in ("RN-RECENT", "RN-OLD-OPEN", "RN-NEW-SPAM"):
        assert untouched not in result.output
    assert "Dry run: nothing was changed." in result.output
    assert anonymised(inquiries) == set()
    assert {key: (i.name, i.email, i.message) for key, i in inquiries.items()} == before
    assert db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) == audit_before


def test_without_confirmation_nothing_changes(app, inquiries):
    result = invoke(app, input="n\n")

    assert result.exit_code == 1
    assert anonymised(inquiries) == set()


def test_confirmed_run_anonymises_only_the_eligible(app, inquiries):
    result = invoke(app, input="y\n")

    assert result.exit_code == 0, result.output
    assert "Anonymised 2 inquiries." in result.output
    assert anonymised(inquiries) == {"old_closed", "old_spam"}


def test_the_daily_job_anonymises_what_a_confirmed_run_would(app, inquiries, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_DAYS", 730)

    assert retention_purge_job(utcnow()) == "Anonymised 2 inquiries."

    db.session.expire_all()
    assert anonymised(inquiries) == {"old_closed", "old_spam"}
    assert retention_purge_job(utcnow()) == "Anonymised 0 inquiries."


def test_older_than_days_overrides_the_period(app, inquiries):
    result = invoke(app, "--older-than-days", "50", "--yes")

    assert result.exit_code == 0, result.output
    assert anonymised(inquiries) == {"old_closed", "old_spam", "recent_closed"}


def test_retention_days_comes_from_config(app, inquiries, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_DAYS", 1000)

    invoke(app, "--yes")

    assert anonymised(inquiries) == set()


def test_personal_details_go_and_what_reports_need_stays(app, inquiries):
    inquiry = inquiries["old_closed"]
    kept = {name: getattr(inquiry, name) for name in ("county_fips", "state", "language", "topic_id", "status", "received_at", "first_response_at", "closed_at", "assigned_contact_id", "reference")}

    invoke(app, "--yes")

    inquiry = db.session.get(Inquiry, inquiry.id)
    assert (inquiry.name, inquiry.email, inquiry.phone, inquiry.zip_code, inquiry.message, inquiry.dedupe_key) == (
        ANONYMISED_NAME, "", "", "", "", ""
    )
    assert inquiry.anonymised_at is not None
    assert {name: getattr(inquiry, name) for name in kept} == kept


def test_the_outcome_stays_and_its_words_and_attempt_notes_go(app, inquiries):
    inquiry = inquiries["old_closed"]
    tried_at = days_ago(899)
    attempt = ContactAttempt(inquiry=inquiry, method=AttemptMethod.VOICEMAIL, attempted_at=tried_at, note="Maria's sister answered")
    db.session.add(attempt)
    audit.commit(actor=None)

    invoke(app, "--yes")

    inquiry = db.session.get(Inquiry, inquiry.id)
    assert (inquiry.outcome, inquiry.outcome_detail) == (InquiryOutcome.OTHER, "")
    attempt = db.session.get(ContactAttempt, attempt.id)
    assert (attempt.method, attempt.attempted_at, attempt.note) == (AttemptMethod.VOICEMAIL, tried_at, "")
    trail = db.session.scalars(select(AuditEvent)).all()
    assert not [entry for entry in trail if "Maria" in str(entry.changes) or "Memphis" in str(entry.changes)]


def test_timeline_and_outbox_are_cleared(app, inquiries):
    inquiry = inquiries["old_closed"]

    invoke(app, "--yes")

    inquiry = db.session.get(Inquiry, inquiry.id)
    kinds = [event.kind for event in inquiry.events]
    assert kinds[-1] is InquiryEventKind.ANONYMISED
    for event in inquiry.events:
        if event.kind in (InquiryEventKind.NOTE, InquiryEventKind.EMAIL_QUEUED):
            assert (event.detail, event.data) == ("", {})
    sent = {email.kind: email for email in db.session.scalars(select(OutboundEmail).where(OutboundEmail.inquiry_id == inquiry.id))}
    assert sent["requester_ack"].body_text == ""
    assert sent["requester_ack"].to_address == ""
    assert sent["requester_ack"].status is EmailStatus.DEAD  # it was never sent; now it never will be
    assert sent["contact_notice"].body_text == ""
    assert sent["contact_notice"].to_address == "marcus@example.org"


def test_audit_trail_keeps_that_it_happened_without_the_personal_data(app, inquiries):
    inquiry = inquiries["old_closed"]

    invoke(app, "--yes")

    [entry] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "anonymise", AuditEvent.entity_id == str(inquiry.id))
    ).all()
    assert entry.entity_type == "Inquiry"
    assert entry.actor_id is None
    assert {"name", "email", "phone", "zip_code", "message", "dedupe_key", "anonymised_at"} <= set(entry.changes)
    assert all(value is None for value in entry.changes.values())
    trail = json.dumps([row.changes for row in db.session.scalars(select(AuditEvent))], ensure_ascii=False)
    for private in (SECRET, "Maria", "maria.requester@example.net", PHONE, "(573) 555-0199", "funeral"):
        assert private not in trail
    # The earlier entries still say which fields were set or changed.
    update = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "update", AuditEvent.entity_type == "Inquiry", AuditEvent.entity_id == str(inquiry.id))
    ).first()
    assert update.changes["phone"] == ["(anonymised)", "(anonymised)"]


def test_running_again_changes_nothing_more(app, inquiries):
    invoke(app, "--yes")
    entries = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "anonymise")).all()

    result = invoke(app, "--yes")

    assert "0 inquiries" in result.output
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "anonymise")).all() == entries


def test_reports_still_count_anonymised_inquiries(app, inquiries):
    received = inquiries["old_closed"].received_at.date()
    period = services.Period(received - timedelta(days=1), received + timedelta(days=1), "UTC")
    before = (services.by_county(period).rows, services.by_language(period).rows, len(reference.responses(period)))

    invoke(app, "--yes")

    assert (services.by_county(period).rows, services.by_language(period).rows, len(reference.responses(period))) == before
    assert ("Dunklin County", 1) in before[0]


def test_refuses_a_period_under_a_day(app, inquiries):
    result = invoke(app, "--older-than-days", "0", "--yes")

    assert result.exit_code == 2
    assert anonymised(inquiries) == set()


def _held(reference: str, *, days: int, spam_reason: str) -> HeldPost:
    held = HeldPost(
        reference=reference,
        received_at=days_ago(days),
        name="Held Family",
        email=f"{reference.lower()}@example.net",
        message=SECRET,
        spam_reason=spam_reason,
    )
    db.session.add(held)
    db.session.commit()
    return held


@pytest.fixture
def held_posts(app):
    return [
        _held("IM-OLDSPM", days=800, spam_reason="honeypot filled in"),
        _held("IM-NEWSPM", days=10, spam_reason="honeypot filled in"),
        # Not spam: an open request, kept as an open inquiry is, whatever its age.
        _held("IM-OLDOPN", days=800, spam_reason=""),
    ]


def held_left() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(HeldPost.reference)))


def test_held_spam_is_deleted_by_the_rule_for_spam(app, inquiries, held_posts, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_DAYS", 730)

    assert retention_purge_job(utcnow()) == "Anonymised 2 inquiries; deleted 1 held spam sends."

    assert held_left() == {"IM-NEWSPM", "IM-OLDOPN"}
    assert retention_purge_job(utcnow()) == "Anonymised 0 inquiries."


def test_the_command_counts_and_deletes_held_spam(app, held_posts):
    result = invoke(app, "--dry-run")
    assert "1 held spam sends received before then would be deleted." in result.output
    assert held_left() == {"IM-OLDSPM", "IM-NEWSPM", "IM-OLDOPN"}

    result = invoke(app, "--yes")
    assert result.exit_code == 0, result.output
    assert "Deleted 1 held spam sends." in result.output
    assert held_left() == {"IM-NEWSPM", "IM-OLDOPN"}
