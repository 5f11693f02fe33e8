"""What managers change on the routing pages: rules, topics and the fallback contact.

Each change is one unit of work, committed once with its audit trail.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crm import audit
from crm.database import violated_constraint
from crm.extensions import db
from crm.models import Contact, County, Organisation, Region, RoutingRule, Topic, User


class DuplicateTopic(ValueError):
    pass


class UnknownTarget(ValueError):
    """The chosen contact or organisation is gone, or can no longer take inquiries."""


class FallbackChangedMeanwhile(ValueError):
    """Another manager chose a fallback contact at the same moment; nothing was written."""


# The partial unique index that keeps the fallback to one contact (crm.models.contact).
ONE_FALLBACK = "uq_contacts_inquiry_fallback"


# Reading


def all_topics() -> list[Topic]:
    return list(db.session.scalars(select(Topic).order_by(Topic.sort_order, Topic.name_en, Topic.id)))


def _contacts(include_id: int | None = None) -> list[Contact]:
    """Active contacts, plus the one already chosen even if it has since been deactivated."""
    condition = Contact.active.is_(True)
    if include_id is not None:
        condition = condition | (Contact.id == include_id)
    return list(
        db.session.scalars(
            select(Contact)
            .options(selectinload(Contact.organisation))
            .where(condition)
            .order_by(Contact.name, Contact.id)
        )
    )


def contact_label(contact: Contact) -> str:
    label = contact.name
    if contact.organisation is not None:
        label += f" ({contact.organisation.name})"
    if not contact.active:
        label += " (inactive)"
    elif not contact.accepts_inquiries:
        label += " (not taking inquiries)"
    return label


def contact_choices(include_id: int | None = None) -> list[tuple[int, str]]:
    return [(contact.id, contact_label(contact)) for contact in _contacts(include_id)]



def topic_choices() -> list[tuple[int, str]]:
    return [(topic.id, topic.name_en + ("" if topic.active else " (hidden)")) for topic in all_topics()]


def region_choices() -> list[tuple[int, str]]:
    return [(region.id, region.name) for region in db.session.scalars(select(Region).order_by(Region.name))]


def county_choices() -> list[tuple[str, str]]:
    counties = db.session.scalars(select(County).where(County.state == "MO").order_by(County.name))
    return [(county.fips, county.name) for county in counties]


# Rules


def _target_contact(contact_id: int | None, current: RoutingRule) -> Contact | None:
    if contact_id is None:
        return None
    contact = db.session.get(Contact, contact_id)
    if contact is None or not (contact.active or contact_id == current.target_contact_id):
        raise UnknownTarget("contact")
    return contact


def _target_organisation(organisation_id: int | None, current: RoutingRule) -> Organisation | None:
    if organisation_id is None:
        return None
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None or not (organisation.is_active or organisation_id == current.target_organisation_id):
        raise UnknownTarget("organisation")
    return organisation


def save_rule(rule: RoutingRule, data: dict, actor: User) -> RoutingRule:
    """Create or update a rule from validated form data; raises UnknownTarget and writes nothing."""
    contact = _target_contact(data.get("target_contact_id"), rule)
    organisation = _target_organisation(data.get("target_organisation_id"), rule)
    if (contact is None) == (organisation is None):
        raise UnknownTarget("exactly one target")
    topics = list(db.session.scalars(select(Topic).where(Topic.id.in_(data.get("topics") or []))))
    regions = list(db.session.scalars(select(Region).where(Region.id.in_(data.get("regions") or []))))
    counties = list(db.session.scalars(select(County).where(County.fips.in_(data.get("counties") or []))))
    rule.name = data["name"]
    rule.priority = data["priority"]
    rule.active = bool(data.get("active"))
    rule.languages = sorted(set(data.get("languages") or []))
    # The ids are what the audit trail records; the relationships keep the object itself current.
    rule.target_contact_id = contact.id if contact else None
    rule.target_organisation_id = organisation.id if organisation else None
    rule.target_contact = contact
    rule.target_organisation = organisation
    rule.topics = topics
    rule.regions = regions
    rule.counties = counties
    db.session.add(rule)
    audit.commit(actor)
    return rule


def set_rule_active(rule: RoutingRule, active: bool, actor: User) -> None:
    rule.active = active
    audit.commit(actor)


def delete_rule(rule: RoutingRule, actor: User) -> None:
    """Inquiries it routed keep their assignment; their link to the rule is cleared."""
    db.session.delete(rule)
    audit.commit(actor)


# Topics


def topic_key(name: str) -> str:
    """How topic names are compared: case and spacing do not count."""
    return " ".join(name.split()).casefold()


def _topic_name_taken(topic: Topic, name_en: str, name_es: str) -> bool:
    wanted = {topic_key(name_en), topic_key(name_es)}
    others = select(Topic) if topic.id is None else select(Topic).where(Topic.id != topic.id)
    return any(wanted & {topic_key(other.name_en), topic_key(other.name_es)} for other in db.session.scalars(others))


def save_topic(topic: Topic, data: dict, actor: User) -> Topic:
    """Create or update a topic; a name another topic already uses (in either language) raises DuplicateTopic.

    Names stay unique so the command line and imports can name a topic unambiguously.
    """
    if _topic_name_taken(topic, data["name_en"], data["name_es"]):
        raise DuplicateTopic(data["name_en"])
    topic.name_en = data["name_en"]
    topic.name_es = data["name_es"]
    topic.active = bool(data.get("active"))
    topic.sort_order = data["sort_order"]
    topic.response_target_hours = data["response_target_hours"]
    topic.acceptance_hours = data["acceptance_hours"]
    db.session.add(topic)
    audit.commit(actor)
    return topic


# The fallback contact


def set_fallback(contact: Contact, actor: User) -> None:
    """Make `contact` the one fallback; whoever held the role before loses it."""
    if not contact.active:
        raise UnknownTarget("contact")
    others = list(
        db.session.scalars(select(Contact).where(Contact.is_inquiry_fallback, Contact.id != contact.id))
    )
    for other in others:
        other.is_inquiry_fallback = False
    # The old fallback gives the role up before the new one takes it: the unique index
    # checks each UPDATE, and one flush would write them in id order.
    db.session.flush()
    contact.is_inquiry_fallback = True
    try:
        audit.commit(actor)
    except IntegrityError as error:
        db.session.rollback()
        if violated_constraint(error) == ONE_FALLBACK:
            raise FallbackChangedMeanwhile from None
        raise
