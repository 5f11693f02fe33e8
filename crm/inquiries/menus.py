"""What the inbox's filter form and the inquiry pages' menus offer: assignees, topics,
regions, counties and organisations, narrowed to what the user may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from crm.auth.permissions import is_staff
from crm.extensions import db
from crm.inquiries import queries
from crm.models import Contact, County, Inquiry, Organisation, Region, RoutingRule, Topic
from crm.models.geography import region_counties


def assignee_choices(user: Any) -> list[tuple[int, str]]:
    # Plain columns, not ORM objects: this menu is on every inbox and inquiry page.
    contacts = queries.assignable_contacts(user).subquery()
    rows = db.session.execute(
        select(contacts.c.id, contacts.c.name, Organisation.name)
        .outerjoin(Organisation, Organisation.id == contacts.c.organisation_id)
        .order_by(func.lower(contacts.c.name), contacts.c.id)
    )
    return [(id_, f"{name} ({organisation})" if organisation else name) for id_, name, organisation in rows]


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


def organisation_choices() -> list[tuple[int, str]]:
    """The organisations inquiries can be with: those whose contacts take inquiries, and the
    targets of routing rules. A partner directory of thousands stays out of the menu."""
    responders = select(Contact.organisation_id).where(Contact.accepts_inquiries.is_(True))
    targets = select(RoutingRule.target_organisation_id)
    query = (
        select(Organisation)
        .where(or_(Organisation.id.in_(responders), Organisation.id.in_(targets)))
        .order_by(Organisation.name_key)
    )
    return [
        (organisation.id, organisation.name if organisation.is_active else f"{organisation.name} (inactive)")
        for organisation in db.session.scalars(query)
    ]
