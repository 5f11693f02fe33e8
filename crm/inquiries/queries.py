"""Who sees and works which inquiries, in SQL: the questions about inquiries that depend on
the user asking. Every feature that asks them (the inbox, its menus, the dashboard) asks here;
those that need only the model (open, awaiting a response, overdue) are beside it, in
``crm.models.inquiry``.

The rule: staff see every inquiry; a partner user only those routed to their own
organisation (``Inquiry.organisation_id == user.organisation_id``); anyone else, none.
``crm.auth.permissions.can_see_inquiry`` says it for one loaded inquiry (and
``crm.records.get_or_404`` uses it, so a hidden inquiry is a 404); ``visible_to``
says the same thing in SQL, for the inbox, search and export.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, false, select, true

from crm.auth.permissions import is_staff
from crm.auth.services import my_contact_id
from crm.extensions import db
from crm.models import Contact, Inquiry, Role


def _partner_organisation_id(user: Any) -> int | None:
    if user.is_authenticated and user.role is Role.PARTNER:
        return user.organisation_id
    return None


def visible_to(user: Any) -> ColumnElement[bool]:
    """A WHERE clause that keeps only the inquiries ``user`` may see."""
    if is_staff(user):
        return true()
    organisation_id = _partner_organisation_id(user)
    if organisation_id is None:
        return false()
    return Inquiry.organisation_id == organisation_id


def assignable_contacts(user: Any) -> Select[tuple[Contact]]:
    """The active contacts who take inquiries that ``user`` may hand one to: any of them for
    staff, their own organisation's for a partner.

    Requesters linked from the form and partners' other staff are contacts too; keeping them
    out keeps these menus to the few hundred people who answer inquiries.
    """
    query = select(Contact).where(Contact.active.is_(True), Contact.accepts_inquiries.is_(True))
    if is_staff(user):
        return query
    organisation_id = _partner_organisation_id(user)
    if organisation_id is None:
        return query.where(false())
    return query.where(Contact.organisation_id == organisation_id)


def takes_inquiries(user: Any) -> bool:
    """Whether inquiries can be assigned to ``user``: they are assigned to contacts, and the
    user's contact (``User.contact_id``) is active and takes inquiries."""
    contact_id = my_contact_id(user)
    if contact_id is None:
        return False
    query = select(Contact.id).where(
        Contact.id == contact_id,
        Contact.active.is_(True),
        Contact.accepts_inquiries.is_(True),
    )
    return db.session.scalar(query) is not None
