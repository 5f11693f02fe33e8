"""The family's side of the loop: the follow-up job, the answer to it, the opt-out, and what
/status looks up. Nothing here puts what a family wrote into an email, a log or an address."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from crm import audit
from crm.extensions import db
from crm.family import links
from crm.family.rules import Answer, FamilyStatus, FollowUpFacts, StatusFacts, family_status, follow_up_refusal
from crm.inquiries.sla_jobs import escalation_recipients
from crm.mail.opt_out import email_hash, opted_out_hashes
from crm.mail.outbox import inquiry_url, opt_out_url, queue_email, render_email, requester_reply_to
from crm.models import Contact, EmailKind, FamilyOptOut, HeldPost, Inquiry, InquiryEventKind
from crm.models.inquiry import add_event
from crm.models.inquiry_status import InquiryStatus, check_move

# Follow-ups queued per run at most; the next run takes the rest.
BATCH_SIZE = 500


# --- the follow-up job ---------------------------------------------------------------------


def _settings() -> tuple[int, int]:
    config = current_app.config
    return int(config["FOLLOW_UP_DAYS"]), int(config["FOLLOW_UP_MAX_DELAY_DAYS"])


def is_opted_out(email: str) -> bool:
    return bool(email.strip()) and bool(opted_out_hashes({email_hash(email)}))


def _candidates(now: datetime, days: int, max_delay_days: int) -> list[Inquiry]:
    """Closed inquiries in the follow-up window, with an address, never followed up, locked
    (SKIP LOCKED on PostgreSQL: a second runner passes over the rows the first is sending)."""
    due_by = now - timedelta(days=days)
    return list(
        db.session.scalars(
            select(Inquiry)
            .where(
                Inquiry.status == InquiryStatus.CLOSED,
                Inquiry.follow_up_sent_at.is_(None),
                Inquiry.closed_at <= due_by,
                Inquiry.closed_at > due_by - timedelta(days=max_delay_days),
                Inquiry.anonymised_at.is_(None),
                Inquiry.email != "",
            )
            .order_by(Inquiry.closed_at, Inquiry.id)
            .limit(BATCH_SIZE)
            .with_for_update(skip_locked=True)
        )
    )


def facts_of(inquiry: Inquiry, opted_out: bool) -> FollowUpFacts:
    return FollowUpFacts(
        status=inquiry.status,
        closed_at=inquiry.closed_at,
        email=inquiry.email,
        anonymised=inquiry.anonymised_at is not None,
        follow_up_sent=inquiry.follow_up_sent_at is not None,
        opted_out=opted_out,
    )


def send_follow_ups(now: datetime) -> int:
    """Queue the follow-ups due at `now`, one per inquiry, and commit; returns how many.

    The rows are locked while they are read (SQLite's writers take turns: the job's
    transaction begins with BEGIN IMMEDIATE), and follow_up_sent_at is set in the same
    commit as the queued email, so of two runners only one ever sends a family's follow-up."""
    days, max_delay_days = _settings()
    candidates = _candidates(now, days, max_delay_days)
    hashes = {inquiry.id: email_hash(inquiry.email) for inquiry in candidates}
    opted_out = opted_out_hashes(set(hashes.values()))
    sent = 0
    for inquiry in candidates:
        facts = facts_of(inquiry, opted_out=hashes[inquiry.id] in opted_out)
        if follow_up_refusal(facts, now, days, max_delay_days) is not None:
            continue
        queue_follow_up(inquiry)
        inquiry.follow_up_sent_at = now
        sent += 1
    audit.commit(None)
    return sent


def queue_follow_up(inquiry: Inquiry) -> None:
    """ "Did you get the help you needed?", in the family's language, with a yes link, a no
    link and the opt-out; the reference only, nothing of the request."""
    with force_locale(inquiry.language):
        subject = gettext("Did you get the help you needed? (reference %(reference)s)", reference=inquiry.reference)
        body = render_email(
            "email/family_follow_up.txt",
            inquiry=inquiry,
            yes_url=links.answer_url(inquiry.id, Answer.YES, inquiry.language),
            no_url=links.answer_url(inquiry.id, Answer.NO, inquiry.language),
            opt_out_url=opt_out_url(inquiry.email, inquiry.language),
        )
    queue_email(
        kind=EmailKind.FAMILY_FOLLOW_UP,
        to_address=inquiry.email,
        subject=subject,
        body_text=body,
        language=inquiry.language,
        inquiry=inquiry,
        reply_to=requester_reply_to(),
    )


def follow_up_job(now: datetime) -> str:
    """The family-follow-up job (crm.jobs.catalogue)."""
    sent = send_follow_ups(now)
    if sent:
        current_app.logger.info("Family follow-up: queued %d follow-up(s)", sent)
    return f"Queued {sent} follow-up(s)."


# --- the family's answer -------------------------------------------------------------------


class AnswerOutcome(enum.StrEnum):
    RECORDED = "recorded"
    ALREADY_ANSWERED = "already answered"
    GONE = "gone"  # no such inquiry, never followed up, or its details were removed


def answerable(inquiry: Inquiry | None) -> AnswerOutcome:
    """Whether a follow-up link for this inquiry can still be used."""
    if inquiry is None or inquiry.follow_up_sent_at is None or inquiry.anonymised_at is not None:
        return AnswerOutcome.GONE
    if inquiry.family_answered_at is not None:
        return AnswerOutcome.ALREADY_ANSWERED
    return AnswerOutcome.RECORDED


def inquiry_to_answer(inquiry_id: int, *, lock: bool = False) -> Inquiry | None:
    query = select(Inquiry).where(Inquiry.id == inquiry_id)
    if lock:
        # A second click racing the first waits for it, then finds the answer given.
        query = query.with_for_update(of=Inquiry)
    return db.session.scalar(query)


def record_answer(inquiry_id: int, answer: Answer, now: datetime) -> AnswerOutcome:
    """Record the family's answer, once, and commit. "No" reopens a closed inquiry and tells
    its assignee and the managers; both answers are on the timeline."""
    inquiry = inquiry_to_answer(inquiry_id, lock=True)
    outcome = answerable(inquiry)
    if outcome is not AnswerOutcome.RECORDED:
        db.session.rollback()
        return outcome
    assert inquiry is not None  # noqa: S101  (answerable says GONE for None)
    inquiry.family_confirmed = answer is Answer.YES
    inquiry.family_answered_at = now
    if answer is Answer.YES:
        add_event(inquiry, InquiryEventKind.FAMILY_CONFIRMED, occurred_at=now, detail="The family answered the follow-up: they got the help they needed")
    else:
        _still_needs_help(inquiry, now)
    audit.commit(None)
    return AnswerOutcome.RECORDED


def _still_needs_help(inquiry: Inquiry, now: datetime) -> None:
    reopened = inquiry.status is InquiryStatus.CLOSED
    if reopened:
        check_move(inquiry.status, InquiryStatus.IN_PROGRESS)
        inquiry.status = InquiryStatus.IN_PROGRESS
        inquiry.closed_at = None
        add_event(
            inquiry,
            InquiryEventKind.STATUS_CHANGED,
            occurred_at=now,
            detail=f"{InquiryStatus.CLOSED.label} → {InquiryStatus.IN_PROGRESS.label}: the family still needs help",
            data={"from": InquiryStatus.CLOSED.value, "to": InquiryStatus.IN_PROGRESS.value},
        )
    add_event(
        inquiry,
        InquiryEventKind.FAMILY_NEEDS_HELP,
        occurred_at=now,
        detail="The family answered the follow-up: they still need help"
        + ("; the inquiry was reopened" if reopened else "; it was open already"),
    )
    _tell_staff_it_reopened(inquiry, reopened)


def _tell_staff_it_reopened(inquiry: Inquiry, reopened: bool) -> None:
    """The assignee and the managers (the admins when there is none), each once: the reference
    and a link, nothing of the request."""
    recipients: dict[str, Contact | object] = {}
    if inquiry.assigned_contact is not None and inquiry.assigned_contact.email:
        recipients[inquiry.assigned_contact.email.lower()] = inquiry.assigned_contact
    for user in escalation_recipients():
        recipients.setdefault(user.email.lower(), user)
    for person in recipients.values():
        body = render_email(
            "email/family_reopened.txt", inquiry=inquiry, recipient=person, url=inquiry_url(inquiry), reopened=reopened
        )
        queue_email(
            kind=EmailKind.FAMILY_REOPENED,
            to_address=person.email,
            subject=f"Inquiry {inquiry.reference}: the family still needs help",
            body_text=body,
            inquiry=inquiry,
        )


# --- opting out ----------------------------------------------------------------------------


def opt_out(hashed_email: str) -> None:
    """Put an address (by its hash) on the opt-out list and commit; a second time changes nothing."""
    if db.session.scalar(select(FamilyOptOut.id).where(FamilyOptOut.email_hash == hashed_email)) is not None:
        return
    db.session.add(FamilyOptOut(email_hash=hashed_email))
    try:
        audit.commit(None)
    except IntegrityError:  # the same link, clicked twice at once: the other click recorded it
        db.session.rollback()


# --- /status -------------------------------------------------------------------------------

REFERENCE_PREFIX = "IM-"
# Compared with the typed address when no request has the reference, so that "no such
# request" takes the same work as "wrong email".
_NO_ADDRESS = "\x00"


# Pasted from the acknowledgement's sentence or subject, a reference brings along the full
# stop, brackets or quotes around it; none of them is part of a reference.
_AROUND_REFERENCE = re.compile(r"^\W+|\W+$")


def normalise_reference(typed: str) -> str:
    """ "im-7k3p9q", "IM 7K3P9Q", "7K3P9Q" and "(IM-7K3P9Q)." all name IM-7K3P9Q."""
    compact = _AROUND_REFERENCE.sub("", "".join(typed.split())).upper()
    if compact.startswith("IM") and not compact.startswith(REFERENCE_PREFIX):
        compact = REFERENCE_PREFIX + compact[2:]
    if not compact.startswith(REFERENCE_PREFIX):
        compact = REFERENCE_PREFIX + compact
    return compact


def _address_digest(email: str) -> bytes:
    return hashlib.sha256(email.strip().lower().encode()).digest()


def partner_of(inquiry: Inquiry) -> str:
    if inquiry.organisation is not None:
        return inquiry.organisation.name
    contact = inquiry.assigned_contact
    if contact is None:
        return ""
    return contact.organisation.name if contact.organisation is not None else contact.name


@dataclass(frozen=True)
class Lookup:
    reference: str
    status: FamilyStatus | None  # None: no request with this reference and address


def look_up(reference: str, email: str) -> Lookup:
    """What /status may say about a request: only to someone who knows both its reference and
    its address. The same answer, after the same work, whether the reference is unknown or the
    address wrong; the addresses are compared as digests, in constant time. A send still held
    is received and with nobody yet, as an inquiry just received that is not passed on."""
    reference = normalise_reference(reference)
    # A send held during a flood (crm.inquiries.held_posts) is a request received, not yet
    # passed on. Read before the inquiry: filing deletes the held row and inserts the inquiry
    # in one transaction, so a send filed between the two reads is found by the second. Both
    # are read whatever the first finds, so that no answer takes less work than another.
    held = db.session.execute(
        select(HeldPost.email, HeldPost.spam_reason).where(HeldPost.reference == reference)
    ).first()
    inquiry = db.session.scalar(
        select(Inquiry)
        .options(
            joinedload(Inquiry.organisation),
            joinedload(Inquiry.assigned_contact).joinedload(Contact.organisation),
        )
        .where(Inquiry.reference == reference)
    )
    if inquiry is not None:
        stored = inquiry.email
        facts = StatusFacts(
            status=inquiry.status, partner=partner_of(inquiry), answered=inquiry.first_response_at is not None
        )
    elif held is not None:
        # As a freshly received inquiry that is with nobody yet; held spam as spam (received).
        stored = held.email
        facts = StatusFacts(
            status=InquiryStatus.SPAM if held.spam_reason else InquiryStatus.NEW, partner="", answered=False
        )
    else:
        stored, facts = "", None
    stored = stored or _NO_ADDRESS
    matches = hmac.compare_digest(_address_digest(stored), _address_digest(email))
    if facts is None or not matches or stored == _NO_ADDRESS:
        return Lookup(reference=reference, status=None)
    return Lookup(reference=reference, status=family_status(facts))
