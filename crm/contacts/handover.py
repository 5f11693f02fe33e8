"""Handing a contact's open inquiries to colleagues before they go away."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from crm.extensions import db
from crm.inquiries import services as inquiry_services
from crm.inquiries.queries import visible_to
from crm.models import Contact, Inquiry, User
from crm.models.inquiry import open_clause
from crm.routing.engine import unavailable_reason
from crm.routing.services import candidate_for


def due_while_away(contact: Contact, viewer: Any) -> list[Inquiry]:
    """The contact's open inquiries whose response is due before they are back (all of them
    while the return is not known), soonest due first; those without a due time last. Only
    those ``viewer`` may see: a contact moved to another organisation keeps the inquiries of
    the one they left, which its partner users see and the new one's do not."""
    query = (
        select(Inquiry)
        .options(selectinload(Inquiry.topic))
        .where(Inquiry.assigned_contact_id == contact.id, open_clause(), visible_to(viewer))
        .order_by(Inquiry.due_at.is_(None), Inquiry.due_at, Inquiry.id)
    )
    if contact.away_until is not None:
        query = query.where(or_(Inquiry.due_at.is_(None), Inquiry.due_at < contact.away_until))
    return list(db.session.scalars(query))


def colleagues(contact: Contact, now: datetime) -> list[Contact]:
    """Who at the contact's organisation can take an inquiry now: active, taking inquiries, not away."""
    if contact.organisation_id is None:
        return []
    people = db.session.scalars(
        select(Contact)
        .options(selectinload(Contact.organisation), selectinload(Contact.topics))
        .where(
            Contact.organisation_id == contact.organisation_id,
            Contact.id != contact.id,
            Contact.active.is_(True),
            Contact.accepts_inquiries.is_(True),
        )
        .order_by(func.lower(Contact.name), Contact.id)
    )
    return [person for person in people if unavailable_reason(candidate_for(person), now) is None]


def hand_over(inquiry: Inquiry, to: Contact, note: str, actor: User, now: datetime) -> None:
    """Reassign, with the note on the timeline; the colleague gets the usual notice.
    Raises inquiry_services.ActionRefused, writing nothing, when the inquiry cannot move."""
    inquiry_services.assign(inquiry, to, actor, now, note=note)
