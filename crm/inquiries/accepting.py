"""Accept or pass, in the database: the contact an inquiry is routed to accepts it, or passes
it on with a reason and the routing picks the next candidate, never one who already passed.

Each action writes its timeline lines and commits once (audit.commit); a refused one raises
services.ActionRefused and writes nothing. The family is never emailed again: only the new
contact gets the usual notice. The rules are crm.inquiries.acceptance.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import select, update

from crm import audit
from crm.business_hours import business_hours_between
from crm.extensions import db
from crm.holidays import calendars
from crm.inquiries import acceptance, intake
from crm.inquiries.services import ActionRefused
from crm.models import Contact, Inquiry, InquiryEventKind, InquiryPass, PassReason, User
from crm.models.inquiry import add_event
from crm.routing import services as routing


def _refuse_unless_allowed(inquiry: Inquiry, actor: User) -> None:
    if not acceptance.may_decide(actor.role, actor.organisation_id, inquiry.organisation_id):
        raise ActionRefused("Only staff, or a partner of the organisation it is with, may accept or pass it.", 403)


def _on_behalf(actor: User, contact: Contact | None) -> str:
    """" for Nora North" when someone else than the assigned contact's own user acts."""
    if contact is None or actor.contact_id == contact.id:
        return ""
    return f" for {contact.name}"


def accept(
    inquiry: Inquiry, actor: User, now: datetime, *, shown_contact_id: int | None, from_link: bool = False
) -> None:
    """The assigned contact takes the inquiry: its acceptance timer stops.

    ``shown_contact_id`` is whom the page (or the link) showed it with: once it is with
    someone else, accepting it would take it for a contact the user never saw."""
    _refuse_unless_allowed(inquiry, actor)
    refusal = acceptance.accept_refusal(
        is_open=inquiry.status.is_open, assigned_contact_id=inquiry.assigned_contact_id, accepted_at=inquiry.accepted_at
    )
    if refusal:
        raise ActionRefused(refusal)
    if shown_contact_id != inquiry.assigned_contact_id:
        raise ActionRefused("This inquiry was passed on or reassigned since the page was shown: reload the page.")
    # Business hours from receipt, by the calendar of the organisation it is with, as the
    # first response's are: the report's time to acceptance.
    hours = business_hours_between(inquiry.received_at, now, calendars.calendar_for(inquiry.organisation_id))
    # Conditional, so that of two clicks (or a click and the acceptance job) one wins.
    taken = db.session.execute(
        update(Inquiry)
        .where(
            Inquiry.id == inquiry.id,
            Inquiry.accepted_at.is_(None),
            Inquiry.assigned_contact_id == inquiry.assigned_contact_id,
        )
        .values(accepted_at=now, accepted_by_id=actor.id, acceptance_due_at=None, accepted_after_hours=hours)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        db.session.rollback()
        raise ActionRefused("This inquiry was accepted or moved on a moment ago: reload the page.")
    # Kept in step with the row by hand (the UPDATE bypassed the object), and so audited too.
    inquiry.accepted_at = now
    inquiry.accepted_by = actor
    inquiry.acceptance_due_at = None
    inquiry.accepted_after_hours = hours
    how = " from the link in the notice" if from_link else ""
    add_event(
        inquiry,
        InquiryEventKind.ACCEPTED,
        occurred_at=now,
        actor=actor,
        detail=f"Accepted by {actor.name}{_on_behalf(actor, inquiry.assigned_contact)}{how}",
        data={"contact_id": inquiry.assigned_contact_id, "from_link": from_link},
    )
    audit.commit(actor)


def pass_on(
    inquiry: Inquiry, reason: str, note: str, actor: User, now: datetime, *, shown_contact_id: int | None
) -> Contact:
    """The assigned contact cannot help: record why and route the inquiry on; returns who has it now.

    ``shown_contact_id`` is whom the page showed it with: a pass is refused once it is with
    someone else, so a second click does not pass it on from the next contact too."""
    # Locked and read afresh: of two clicks at once, the second waits for the first and
    # finds it moved on (SQLite's writers take turns already).
    db.session.refresh(inquiry, with_for_update=True)
    _refuse_unless_allowed(inquiry, actor)
    refusal = acceptance.pass_refusal(
        is_open=inquiry.status.is_open,
        assigned_contact_id=inquiry.assigned_contact_id,
        left_after_passing=inquiry.accepted_at is None
        and inquiry.acceptance_due_at is None
        and inquiry.assigned_contact_id in passed_contact_ids(inquiry),
    )
    if refusal:
        raise ActionRefused(refusal)
    if shown_contact_id != inquiry.assigned_contact_id:
        raise ActionRefused("This inquiry was passed on or reassigned since the page was shown: reload the page.")
    problem = acceptance.pass_problem(reason, note)
    if problem:
        raise ActionRefused(problem, 422)
    chosen = PassReason(reason)
    contact = inquiry.assigned_contact
    passed = record_pass(inquiry, contact, chosen, note.strip(), now, actor)
    detail = f"Passed on by {actor.name}{_on_behalf(actor, contact)}: {chosen.label}"
    if note.strip():
        detail += f"\n{note.strip()}"
    add_event(
        inquiry,
        InquiryEventKind.PASSED,
        occurred_at=now,
        actor=actor,
        detail=detail,
        data={"contact_id": contact.id, "reason": chosen.value},
    )
    taker = move_on(inquiry, f"{contact.name} passed it on ({chosen.label.lower()})", now, actor)
    passed.moved_to_contact = taker
    audit.commit(actor)
    return taker


def record_pass(
    inquiry: Inquiry, contact: Contact, reason: PassReason, note: str, now: datetime, actor: User | None
) -> InquiryPass:
    row = InquiryPass(inquiry=inquiry, contact_id=contact.id, reason=reason, note=note, passed_at=now, passed_by=actor)
    db.session.add(row)
    return row


def passed_contact_ids(inquiry: Inquiry) -> frozenset[int]:
    """Everyone who passed this inquiry on: routing never offers it to them again."""
    db.session.flush()
    return frozenset(
        db.session.scalars(
            select(InquiryPass.contact_id).where(InquiryPass.inquiry_id == inquiry.id, InquiryPass.contact_id.is_not(None))
        )
    )


def next_outcome(inquiry: Inquiry, why: str, now: datetime) -> tuple[routing.RoutingOutcome, bool]:
    """Where the inquiry goes next, with the reason starting from why it moves; and whether
    that is someone who already passed it (the fallback, who takes it when nobody else can)."""
    excluded = passed_contact_ids(inquiry)
    try:
        if inquiry.consent:
            outcome = routing.decide(inquiry.zip_code, inquiry.topic, inquiry.language, now, excluded=excluded)
        else:
            # Without consent it stays with the foundation (intake.rules_outcome).
            outcome = routing.kept_with_foundation(inquiry.zip_code)
    except routing.NoFallbackContact as error:
        raise ActionRefused(str(error)) from None
    decision = dataclasses.replace(outcome.decision, reason=f"{why} -> {outcome.decision.reason}")
    return dataclasses.replace(outcome, decision=decision), decision.contact.id in excluded


def move_on(inquiry: Inquiry, why: str, now: datetime, actor: User | None) -> Contact:
    """Route the inquiry to the next candidate and tell them; the family is not emailed again.

    When only someone who already passed it is left (the fallback), it stays with them with no
    acceptance timer, for a person to assign it by hand: moving it in a circle helps nobody."""
    outcome, nobody_new = next_outcome(inquiry, why, now)
    contact = intake.place_with_contact(inquiry, outcome, now, actor)
    # The new contact has not been reminded of the deadline yet.
    inquiry.reminder_sent_at = None
    if nobody_new:
        inquiry.acceptance_due_at = None
        add_event(
            inquiry,
            InquiryEventKind.NOTE,
            occurred_at=now,
            detail=f"Everyone routing could offer it to has passed it on; it stays with {contact.name}: assign it by hand.",
        )
    else:
        intake.queue_notice_to_accept(inquiry, contact)
    return contact
