"""What the inbox's filter form and the inquiry pages' menus offer: assignees, topics,
regions, counties and organisations, narrowed to what the user may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from crm.auth.permissions import can_see_organisation, is_staff
from crm.extensions import db
from crm.inquiries import queries
from crm.models import Contact, County, Inquiry, Organisation, Region, RoutingRule, Topic
from crm.models.geography import region_counties
from crm.records import MAX_ID

# How the inbox filters mark the one contact or organisation asked for that is no longer on
# their menus: a manager reviewing old inquiries filters by who answered them then.
FORMER = "(no longer takes inquiries)"


def _assignee_label(name: str, organisation: str | None) -> str:
    return f"{name} ({organisation})" if organisation else name


def assignee_choices(user: Any, include_id: int | None = None) -> list[tuple[int, str]]:
    """The contacts ``user`` may assign to (queries.assignable_contacts), plus ``include_id``
    (the one a filter asks for) when it is another contact ``user`` may see, marked FORMER."""
    # Plain columns, not ORM objects: this menu is on every inbox and inquiry page.
    contacts = queries.assignable_contacts(user).subquery()
    rows = db.session.execute(
        select(contacts.c.id, contacts.c.name, Organisation.name)
        .outerjoin(Organisation, Organisation.id == contacts.c.organisation_id)
        .order_by(func.lower(contacts.c.name), contacts.c.id)
    )
    choices = [(id_, _assignee_label(name, organisation)) for id_, name, organisation in rows]
    if include_id is not None and include_id not in {id_ for id_, _ in choices}:
        choices.extend(_former_assignee(user, include_id))
    return choices


def _former_assignee(user: Any, contact_id: int) -> list[tuple[int, str]]:
    """The contact asked for by id, if it exists and ``user`` may see it: one primary-key
    lookup. An id that fails either stays off the menu, so the form refuses both alike and
    a partner learns nothing of another organisation's contacts."""
    if not 0 < contact_id <= MAX_ID:
        return []
    row = db.session.execute(
        select(Contact.name, Contact.organisation_id, Organisation.name)
        .outerjoin(Organisation, Organisation.id == Contact.organisation_id)
        .where(Contact.id == contact_id)
    ).one_or_none()
    if row is None or not can_see_organisation(user, row[1]):
        return []
    name, _, organisation = row
    return [(contact_id, f"{_assignee_label(name, organisation)} {FORMER}")]


def topic_choices(*, active_only: bool = False) -> list[tuple[int, str]]:
    query = select(Topic).order_by(Topic.sort_order, Topic.name_en)
    if active_only:
        query = query.where(Topic.active.is_(True))
    return [(topic.id, topic.name_en) for topic in db.session.scalars(query)]


def visible_counties(user: Any) -> list[str] | None:
    """The counties a partner's inquiries come from; None for staff, who see every county.

    A partner sees only their organisation's inquiries, so any other county would filter to
    nothing. Read once per page from the (organisation_id, county_fips) index alone."""
    if is_staff(user):
        return None
    return list(
        db.session.scalars(
            select(Inquiry.county_fips).where(queries.visible_to(user), Inquiry.county_fips.is_not(None)).distinct()
        )
    )


def region_choices(counties: list[str] | None) -> list[tuple[int, str]]:
    """Every region, or only those holding one of ``counties`` (from visible_counties)."""
    query = select(Region).order_by(Region.name)
    if counties is not None:
        query = query.where(
            Region.id.in_(select(region_counties.c.region_id).where(region_counties.c.county_fips.in_(counties)))
        )
    return [(region.id, region.name) for region in db.session.scalars(query)]


def county_choices(counties: list[str] | None) -> list[tuple[str, str]]:
    """Every county, or only ``counties`` (from visible_counties)."""
    query = select(County).order_by(County.name)
    if counties is not None:
        query = query.where(County.fips.in_(counties))
    return [(county.fips, county.name) for county in db.session.scalars(query)]


def organisation_choices(include_id: int | None = None) -> list[tuple[int, str]]:
    """The organisations inquiries can be with: those whose contacts take inquiries, and the
    targets of routing rules. A partner directory of thousands stays out of the menu, but
    ``include_id`` (the one a filter asks for) is added, marked FORMER, if it exists.

    For staff only: a partner's inbox has no organisation filter."""
    responders = select(Contact.organisation_id).where(Contact.accepts_inquiries.is_(True))
    targets = select(RoutingRule.target_organisation_id)
    query = (
        select(Organisation)
        .where(or_(Organisation.id.in_(responders), Organisation.id.in_(targets)))
        .order_by(Organisation.name_key)
    )
    choices = [
        (organisation.id, organisation.name if organisation.is_active else f"{organisation.name} (inactive)")
        for organisation in db.session.scalars(query)
    ]
    if include_id is not None and include_id not in {id_ for id_, _ in choices} and 0 < include_id <= MAX_ID:
        former = db.session.get(Organisation, include_id)
        if former is not None:
            choices.append((former.id, f"{former.name} {FORMER}"))
    return choices
