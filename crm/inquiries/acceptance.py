"""Accept or pass: the rules, as plain functions over plain values.

A routed inquiry waits for its contact to accept it. Who may accept or pass it for them, when
either is possible and what a pass must say are decided here; the database side is
crm.inquiries.accepting, the timer crm.inquiries.acceptance_jobs.
"""

from __future__ import annotations

from datetime import datetime

from crm.models.inquiry import PassReason
from crm.models.user import Role

# What a person may choose when passing; "not accepted in time" is the job's alone.
CHOSEN_REASONS: tuple[PassReason, ...] = (
    PassReason.NOT_OUR_AREA,
    PassReason.NOT_A_SERVICE,
    PassReason.NO_CAPACITY,
    PassReason.LANGUAGE,
    PassReason.OTHER,
)
NOTE_MAX = 1000
STAFF_ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.STAFF})


def may_decide(role: Role | None, user_organisation_id: int | None, inquiry_organisation_id: int | None) -> bool:
    """Whether a user may accept or pass an inquiry: staff, managers and admins any; a partner
    user (the assigned contact's own user is one) only an inquiry with their own organisation."""
    if role in STAFF_ROLES:
        return True
    return (
        role is Role.PARTNER
        and user_organisation_id is not None
        and inquiry_organisation_id == user_organisation_id
    )


def accept_refusal(*, is_open: bool, assigned_contact_id: int | None, accepted_at: datetime | None) -> str | None:
    """Why the inquiry cannot be accepted now, or None."""
    if not is_open:
        return "This inquiry is not open: there is nothing to accept."
    if assigned_contact_id is None:
        return "This inquiry is not with anyone yet: assign it first."
    if accepted_at is not None:
        return "This inquiry has already been accepted."
    return None


def pass_refusal(*, is_open: bool, assigned_contact_id: int | None, left_after_passing: bool = False) -> str | None:
    """Why the inquiry cannot be passed on now, or None. ``left_after_passing``: it stays with
    a contact who passed it already, because routing had nobody else (no timer, not accepted);
    passing it again would only leave it there again."""
    if not is_open:
        return "This inquiry is not open: reopen it before passing it on."
    if assigned_contact_id is None:
        return "This inquiry is not with anyone yet: there is nobody to pass it on from."
    if left_after_passing:
        return "Everyone routing could offer it to has passed it on already: assign it by hand."
    return None


def pass_problem(reason: str | None, note: str) -> str | None:
    """What is wrong with a reason and note a person gave for passing, or None."""
    try:
        chosen = PassReason(reason or "")
    except ValueError:
        return "Choose a reason from the list."
    if chosen not in CHOSEN_REASONS:
        return "Choose a reason from the list."
    if chosen is PassReason.OTHER and not note.strip():
        return "Say why in the note: it is required with “Other”."
    if len(note) > NOTE_MAX:
        return f"Keep the note to {NOTE_MAX} characters or fewer."
    return None


def link_refusal(
    *, link_contact_id: int, assigned_contact_id: int | None, accepted_at: datetime | None, is_open: bool
) -> str | None:
    """Why an acceptance link from a notice no longer works, or None. It works once: for the
    contact it was sent to, while the inquiry is still theirs and not accepted."""
    if accepted_at is not None and assigned_contact_id == link_contact_id:
        return "This inquiry has already been accepted: the link has done its work."
    if assigned_contact_id != link_contact_id:
        return "This inquiry has moved on to someone else since the email was sent."
    if not is_open:
        return "This inquiry is not open any more."
    return None
