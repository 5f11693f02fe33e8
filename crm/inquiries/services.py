"""What staff and partners do to an inquiry. Each action writes its InquiryEvent with the
actor and commits once through audit.commit; a refused action raises ActionRefused and
writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from crm import audit
from crm.auth.services import contact_with_email
from crm.business_hours import business_hours_between
from crm.extensions import db
from crm.holidays import calendars
from crm.inquiries import intake, outcomes, timeline
from crm.inquiries.intake import InquiryDetails, Received
from crm.models import (
    AttemptMethod,
    AuditEvent,
    Contact,
    ContactAttempt,
    Inquiry,
    InquiryEvent,
    InquiryEventKind,
    InquiryOutcome,
    Organisation,
    User,
)
from crm.models.inquiry import add_event
from crm.models.inquiry_status import (
    IllegalTransition,
    InquiryStatus,
    allowed_moves,
    check_move,
    status_after_assignment,
)
from crm.routing import services as routing


class ActionRefused(Exception):
    """The action does not fit the inquiry as it is now; nothing was written.

    ``status`` is the HTTP status the view answers with: 409 when the inquiry's state is in
    the way, 422 when what was asked for is not valid.
    """

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _event(inquiry: Inquiry, kind: InquiryEventKind, actor: User | None, now: datetime, detail: str = "", **data):
    add_event(inquiry, kind, occurred_at=now, actor=actor, detail=detail, data=data)


def _status_event(
    inquiry: Inquiry, before: InquiryStatus, actor: User | None, now: datetime, note: str = "", **data
) -> None:
    detail = f"{before.label} → {inquiry.status.label}" + (f": {note}" if note else "")
    _event(
        inquiry,
        InquiryEventKind.STATUS_CHANGED,
        actor,
        now,
        detail,
        **{"from": before.value, "to": inquiry.status.value},
        **data,
    )


# --- reading -----------------------------------------------------------------------------


def load_events(inquiry: Inquiry) -> list[InquiryEvent]:
    """The whole timeline, oldest first, with each actor loaded in the same round trip."""
    return list(
        db.session.scalars(
            select(InquiryEvent)
            .options(selectinload(InquiryEvent.actor))
            .where(InquiryEvent.inquiry_id == inquiry.id)
            .order_by(InquiryEvent.occurred_at, InquiryEvent.id)
        )
    )


def routing_story(events: list[InquiryEvent]) -> tuple[timeline.RoutingStory, dict[int, str]]:
    """How the inquiry came to its assignee, and the names of the contacts the story mentions."""
    story = timeline.routing_story(events)
    ids = story.contact_ids()
    names = dict(db.session.execute(select(Contact.id, Contact.name).where(Contact.id.in_(ids))).all()) if ids else {}
    return story, names


def record_view(inquiry: Inquiry, actor: User, now: datetime) -> None:
    """The access log: every time someone opens an inquiry."""
    _event(inquiry, InquiryEventKind.VIEWED, actor, now, f"Viewed by {actor.name}")
    audit.commit(actor)


def menu_moves(inquiry: Inquiry) -> list[InquiryStatus]:
    """The status changes worth offering now (the ones change_status would accept)."""
    return [target for target in allowed_moves(inquiry.status) if _refusal(inquiry, target) is None]


MOVE_LABELS: dict[tuple[InquiryStatus | None, InquiryStatus], str] = {
    (None, InquiryStatus.ASSIGNED): "Mark assigned",
    (None, InquiryStatus.IN_PROGRESS): "Start work",
    (InquiryStatus.CLOSED, InquiryStatus.IN_PROGRESS): "Reopen",
    (None, InquiryStatus.RESPONDED): "Mark responded",
    (None, InquiryStatus.CLOSED): "Close",
    (None, InquiryStatus.SPAM): "Mark as spam",
    (InquiryStatus.SPAM, InquiryStatus.NEW): "Not spam: route it again",
}


def move_label(current: InquiryStatus, target: InquiryStatus) -> str:
    return MOVE_LABELS.get((current, target)) or MOVE_LABELS.get((None, target)) or target.label


def takes_work(inquiry: Inquiry) -> bool:
    """Whether it may be (re)assigned or responded to: spam must be routed again first, and a
    closed inquiry reopened, so its closing date and the reports stay true. Notes are always fine."""
    return inquiry.status.is_open


def _refuse_unless_open(inquiry: Inquiry, doing: str) -> None:
    if inquiry.is_spam:
        raise ActionRefused(f"This inquiry is marked as spam. Route it again before {doing}.")
    if not takes_work(inquiry):
        raise ActionRefused(f"This inquiry is {inquiry.status.label.lower()}. Reopen it before {doing}.")


def _refuse_partner_without_consent(consent: bool, contact: Contact) -> None:
    """The requester's consent is what lets an inquiry go to a partner (see intake.rules_outcome)."""
    if not consent and contact.id not in routing.foundation_contact_ids():
        raise ActionRefused(
            f"The requester did not agree to be passed to a partner, so {contact.name} cannot take it: "
            "choose someone at the foundation.",
            422,
        )


# --- status ------------------------------------------------------------------------------


def _refusal(inquiry: Inquiry, target: InquiryStatus) -> str | None:
    """Why the workflow allows this move but the inquiry is not ready for it, or None."""
    if target is InquiryStatus.RESPONDED and inquiry.first_response_at is None:
        return "Log the response first: that marks the inquiry responded."
    if target is InquiryStatus.ASSIGNED and inquiry.assigned_contact_id is None:
        return "Assign it to someone: that marks it assigned."
    return None


def check_status_change(inquiry: Inquiry, target: InquiryStatus) -> None:
    """Raises ActionRefused when the inquiry cannot move to `target` now; writes nothing."""
    before = inquiry.status
    if target is before:
        raise ActionRefused(f"The inquiry is already {before.label.lower()}.")
    try:
        check_move(before, target)
    except IllegalTransition as error:
        raise ActionRefused(f"That change is not allowed: {error}.") from None
    refusal = _refusal(inquiry, target)
    if refusal:
        raise ActionRefused(refusal)


@dataclass(frozen=True)
class Outcome:
    """What came of an inquiry, as the close form gives it (crm.inquiries.outcomes has the rules)."""

    outcome: InquiryOutcome
    detail: str = ""
    organisation_id: int | None = None


def attempt_count(inquiry: Inquiry) -> int:
    return db.session.scalar(select(func.count()).where(ContactAttempt.inquiry_id == inquiry.id)) or 0


def _record_outcome(inquiry: Inquiry, outcome: Outcome | None, now: datetime) -> str:
    """Set the close's outcome, refusing one the rules refuse; returns the timeline's words for it."""
    if outcome is None:
        raise ActionRefused("Say what came of it: closing records an outcome.", 422)
    organisation = db.session.get(Organisation, outcome.organisation_id) if outcome.organisation_id else None
    if outcome.organisation_id is not None and organisation is None:
        raise ActionRefused("That organisation is not on record.", 422)
    problems = outcomes.outcome_problems(outcome.outcome, outcome.detail, outcome.organisation_id, attempt_count(inquiry))
    if problems:
        raise ActionRefused(" ".join(problems.values()), 422)
    inquiry.outcome = outcome.outcome
    inquiry.outcome_detail = outcome.detail
    inquiry.outcome_organisation = organisation
    inquiry.closed_at = now
    return outcomes.describe_outcome(outcome.outcome, outcome.detail, organisation.name if organisation else None)


def change_status(
    inquiry: Inquiry, target: InquiryStatus, actor: User, now: datetime, outcome: Outcome | None = None
) -> None:
    """Move the inquiry along the workflow; closing records ``outcome``, recovering spam routes
    it again. Reopening keeps the last outcome and closing time: the timeline has every close."""
    # Locked and read afresh: of two clicks at once, the second waits for the first and finds
    # the move made (SQLite's writers take turns already).
    db.session.flush()
    db.session.refresh(inquiry, with_for_update=True)
    check_status_change(inquiry, target)
    before = inquiry.status
    said = _record_outcome(inquiry, outcome, now) if target is InquiryStatus.CLOSED else ""
    inquiry.status = target
    if said:
        _status_event(
            inquiry,
            before,
            actor,
            now,
            said,
            outcome=inquiry.outcome.value,
            outcome_organisation_id=inquiry.outcome_organisation_id,
        )
    elif target is InquiryStatus.SPAM:
        inquiry.spam_reason = f"Marked as spam by {actor.name}"[:200]
        _status_event(inquiry, before, actor, now)
    elif before is InquiryStatus.SPAM:
        inquiry.spam_reason = ""
        _status_event(inquiry, before, actor, now, "not spam after all; routed again")
        _route_again(inquiry, actor, now)
    else:
        _status_event(inquiry, before, actor, now)
    audit.commit(actor)


def _route_again(inquiry: Inquiry, actor: User, now: datetime) -> None:
    """Send a recovered inquiry through the routing rules, as if it had just arrived."""
    try:
        outcome = intake.rules_outcome(inquiry, now)
    except routing.NoFallbackContact as error:
        db.session.rollback()
        raise ActionRefused(str(error)) from None
    intake.route_to_contact(inquiry, outcome, now, actor)


# --- attempts to reach the requester ----------------------------------------------------


def log_attempt(
    inquiry: Inquiry, method: AttemptMethod, attempted_at: datetime, note: str, actor: User, now: datetime
) -> ContactAttempt:
    """Record a try at reaching the family. It does not stop the response clock: only a
    logged response does."""
    _refuse_unless_open(inquiry, "logging an attempt")
    problem = outcomes.attempt_time_problem(attempted_at, inquiry.received_at, now)
    if problem:
        raise ActionRefused(problem, 422)
    # The inquiry's row is locked first, so that of two clicks at once the second waits for
    # the first and finds its attempt; the form gives minutes, so one person logging the same
    # way, minute and note twice is the same attempt sent twice.
    db.session.execute(select(Inquiry.id).where(Inquiry.id == inquiry.id).with_for_update())
    logged = select(ContactAttempt.id).where(
        ContactAttempt.inquiry_id == inquiry.id,
        ContactAttempt.method == method,
        ContactAttempt.attempted_at == attempted_at,
        ContactAttempt.note == note,
        ContactAttempt.logged_by_id == actor.id,
    )
    if db.session.scalar(logged.limit(1)) is not None:
        raise ActionRefused("This attempt is logged already.")
    attempt = ContactAttempt(
        inquiry=inquiry, method=method, attempted_at=attempted_at, note=note, logged_by=actor, logged_at=now
    )
    db.session.add(attempt)
    _event(
        inquiry,
        InquiryEventKind.ATTEMPT,
        actor,
        now,
        f"{method.label}" + (f": {note}" if note else ""),
        method=method.value,
        attempted_at=attempted_at.isoformat(),
    )
    audit.commit(actor)
    return attempt


def load_attempts(inquiry: Inquiry) -> list[ContactAttempt]:
    """The inquiry's attempts, newest first, with who logged each."""
    return list(
        db.session.scalars(
            select(ContactAttempt)
            .options(selectinload(ContactAttempt.logged_by))
            .where(ContactAttempt.inquiry_id == inquiry.id)
            .order_by(ContactAttempt.attempted_at.desc(), ContactAttempt.id.desc())
        )
    )


# --- assignment --------------------------------------------------------------------------


def assign(inquiry: Inquiry, contact: Contact, actor: User, now: datetime, note: str = "") -> None:
    """Hand the inquiry to another active contact; they are told through the outbox. A note
    (a handover's "what was said so far") goes on the timeline, never in the notice."""
    _refuse_unless_open(inquiry, "reassigning it" if inquiry.assigned_contact_id else "assigning it")
    _refuse_partner_without_consent(inquiry.consent, contact)
    if not contact.active:
        raise ActionRefused(f"{contact.name} is inactive.", 422)
    if contact.id == inquiry.assigned_contact_id:
        raise ActionRefused(f"It is already assigned to {contact.name}.", 422)

    previous = inquiry.assigned_contact
    previous_organisation_id = inquiry.organisation_id
    inquiry.assigned_contact = contact
    # Who may see it follows the person doing the work.
    inquiry.organisation_id = contact.organisation_id
    # The new assignee has not been reminded of the deadline yet.
    inquiry.reminder_sent_at = None
    # The clock runs by the holidays of the organisation that has the inquiry now.
    if inquiry.due_at is None or inquiry.organisation_id != previous_organisation_id:
        intake.set_due(inquiry)
    # It is theirs once they accept it, as if routed to them.
    intake.start_acceptance_clock(inquiry, now)
    detail = f"Reassigned from {previous.name} to {contact.name}" if previous else f"Assigned to {contact.name}"
    _event(
        inquiry,
        InquiryEventKind.ASSIGNED,
        actor,
        now,
        detail,
        from_contact_id=previous.id if previous else None,
        to_contact_id=contact.id,
    )
    if note:
        _event(inquiry, InquiryEventKind.NOTE, actor, now, note)
    before = inquiry.status
    inquiry.status = status_after_assignment(before)
    if inquiry.status is not before:
        _status_event(inquiry, before, actor, now)
    db.session.flush()
    routing.take_turn(contact, now)
    intake.queue_notice_to_accept(inquiry, contact, reason="reassigned")
    audit.commit(actor)


# --- responses and notes -----------------------------------------------------------------


# A response or a note has no time of its own on the form, so a repeat is told by when it
# arrived: the same person sending the same words again this soon has clicked twice or sent
# the form again, while a genuine second entry with the same words comes later.
REPEAT_WINDOW = timedelta(seconds=60)


def _refuse_repeat(inquiry: Inquiry, kind: InquiryEventKind, text: str, actor: User, now: datetime, said: str) -> None:
    """Refuse, writing nothing, the same entry by the same person within REPEAT_WINDOW.

    The inquiry's row is locked and read afresh first, so that of two clicks at once the
    second waits for the first, finds its entry, and sees the inquiry as the first left it."""
    db.session.flush()
    db.session.refresh(inquiry, with_for_update=True)
    repeat = select(InquiryEvent.id).where(
        InquiryEvent.inquiry_id == inquiry.id,
        InquiryEvent.kind == kind,
        InquiryEvent.actor_id == actor.id,
        InquiryEvent.detail == text,
        InquiryEvent.occurred_at >= now - REPEAT_WINDOW,
    )
    if db.session.scalar(repeat.limit(1)) is not None:
        raise ActionRefused(said)


def log_response(inquiry: Inquiry, text: str, channel: str, actor: User, now: datetime) -> None:
    """Record a response made to the requester. The first one starts nothing and stops the
    clock: it sets first_response_at. Any response moves the status to responded where the
    workflow allows it."""
    _refuse_repeat(inquiry, InquiryEventKind.RESPONSE, text, actor, now, "This response is logged already.")
    _refuse_unless_open(inquiry, "logging a response")
    _event(inquiry, InquiryEventKind.RESPONSE, actor, now, text, channel=channel)
    if inquiry.first_response_at is None:
        inquiry.first_response_at = now
        inquiry.first_response_hours = business_hours_between(
            inquiry.received_at, now, calendars.calendar_for(inquiry.organisation_id)
        )
    before = inquiry.status
    if before is not InquiryStatus.RESPONDED and InquiryStatus.RESPONDED in allowed_moves(before):
        inquiry.status = InquiryStatus.RESPONDED
        _status_event(inquiry, before, actor, now)
    audit.commit(actor)


def add_note(inquiry: Inquiry, text: str, actor: User, now: datetime) -> None:
    _refuse_repeat(inquiry, InquiryEventKind.NOTE, text, actor, now, "This note is added already.")
    _event(inquiry, InquiryEventKind.NOTE, actor, now, text)
    audit.commit(actor)


# --- the requester as a contact ----------------------------------------------------------


def contact_with_phone(phone: str) -> Contact | None:
    """For a requester who gave no email (they asked for a call or a text): the contact with
    the same phone number, written as the forms write it, and no email of their own to
    tell them apart; an active one first, then the oldest."""
    if not phone.strip():
        return None
    return db.session.scalar(
        select(Contact)
        .where(Contact.phone == phone.strip(), Contact.email == "", Contact.merged_into_id.is_(None))
        .order_by(Contact.active.desc(), Contact.id)
        .limit(1)
    )


def link_requester(inquiry: Inquiry, actor: User, now: datetime) -> tuple[Contact, bool]:
    """Link the requester to the contact with their email (without one, their phone number),
    or create one; returns (contact, created).

    What a public form said never overwrites a contact: an existing contact is linked as it
    is, and a new one gets only the name, email and phone.
    """
    if inquiry.is_spam:
        raise ActionRefused("This inquiry is marked as spam: it does not belong among the contacts.")
    if inquiry.requester_contact_id is not None:
        raise ActionRefused("The requester is already linked to a contact.")
    contact = contact_with_email(inquiry.email) if inquiry.email else contact_with_phone(inquiry.phone)
    created = contact is None
    if created:
        contact = Contact(name=inquiry.name, email=inquiry.email, phone=inquiry.phone, organisation=None)
        db.session.add(contact)
        db.session.flush()
    inquiry.requester_contact = contact
    detail = (
        f"Requester saved as a new contact, {contact.name}"
        if created
        else f"Requester linked to the existing contact {contact.name}"
    )
    _event(inquiry, InquiryEventKind.LINKED, actor, now, detail, contact_id=contact.id, created=created)
    audit.commit(actor)
    return contact, created


# --- inquiries that arrive another way ---------------------------------------------------


def log_inquiry(details: InquiryDetails, assign_to: Contact | None, actor: User, now: datetime) -> Received:
    """Store an inquiry staff took by phone, email, letter or in person.

    Without ``assign_to`` it is routed by the rules, exactly as the web form's are; with it,
    it goes to that contact and the routing reason says who chose. Without the requester's
    consent it stays with the foundation: choosing a partner is refused.
    """
    if assign_to is not None:
        _refuse_partner_without_consent(details.consent, assign_to)
    return intake.receive(details, now, actor=actor, assign_to=assign_to)


# --- export ------------------------------------------------------------------------------


def record_export(filters: dict[str, str], actor: User) -> None:
    """An export takes personal data out of the system: note who did it, with which filters."""
    db.session.add(
        AuditEvent(
            actor_id=actor.id,
            action="export",
            entity_type="Inquiry",
            entity_id="csv",
            changes={name: [None, value] for name, value in filters.items()},
        )
    )
    audit.commit(actor)
