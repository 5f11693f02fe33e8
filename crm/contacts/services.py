from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta

from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crm import audit
from crm.database import like_pattern, violated_constraint
from crm.extensions import db
from crm.interactions.services import newest_first
from crm.models import AuditEvent, Contact, Interaction, Topic, User
from crm.timezones import local_midnight, local_time


class DuplicateEmail(ValueError):
    pass


# The partial unique index behind email_taken (crm.models.contact).
UNIQUE_ACTIVE_EMAIL = "uq_contacts_active_email"


@dataclass(frozen=True)
class ContactFilters:
    q: str = ""
    organisation_id: int | None = None
    language: str = ""
    role: str = ""
    status: str = "active"  # "active", "inactive" or "" for any


def _json_list_has(column, code: str):
    """Whether a JSON list of codes holds `code`, on SQLite and PostgreSQL alike.

    The codes come from a closed set (LANGUAGES, ContactRole) with no quotes or wildcards,
    so matching the quoted code in the stored text is exact.
    """
    return cast(column, String).like(f'%"{code}"%')


def search(filters: ContactFilters) -> Select:
    query = (
        select(Contact)
        .options(selectinload(Contact.organisation))
        .where(Contact.merged_into_id.is_(None))
        .order_by(func.lower(Contact.name), Contact.id)
    )
    if filters.q:
        # lower(), as the database lowers the columns: casefold() makes "Weiß" "weiss".
        pattern = like_pattern(filters.q.lower())
        query = query.where(
            or_(
                func.lower(Contact.name).like(pattern, escape="\\"),
                func.lower(Contact.email).like(pattern, escape="\\"),
                func.lower(Contact.title).like(pattern, escape="\\"),
            )
        )
    if filters.organisation_id:
        query = query.where(Contact.organisation_id == filters.organisation_id)
    if filters.language:
        query = query.where(_json_list_has(Contact.languages, filters.language))
    if filters.role:
        query = query.where(_json_list_has(Contact.roles, filters.role))
    if filters.status == "active":
        query = query.where(Contact.active.is_(True))
    elif filters.status == "inactive":
        query = query.where(Contact.active.is_(False))
    return query


def email_taken(email: str, excluding_id: int | None = None) -> bool:
    """Whether an active contact other than `excluding_id` uses this email, ignoring case."""
    query = select(Contact.id).where(func.lower(Contact.email) == func.lower(email), Contact.active.is_(True))
    if excluding_id is not None:
        query = query.where(Contact.id != excluding_id)
    return db.session.scalar(query.limit(1)) is not None


def _link_user(contact: Contact) -> None:
    """A contact added (or given an email) for someone who already has an account becomes
    that user's contact, as crm.auth.services.link_contact links a new user to their contact. A user
    already linked keeps their contact."""
    if not contact.email or contact.active is False:  # None: new, active once saved
        return
    user = db.session.scalar(
        select(User).where(User.email == contact.email.strip().lower(), User.contact_id.is_(None))
    )
    if user is None:
        return
    if contact.id is not None and db.session.scalar(select(User.id).where(User.contact_id == contact.id)):
        return
    user.contact = contact


def _commit_unless_email_taken(actor: User, email: str) -> None:
    """audit.commit, turning the unique index's refusal into DuplicateEmail: another save of
    the same email got in between email_taken and this commit."""
    try:
        audit.commit(actor)
    except IntegrityError as error:
        db.session.rollback()
        if violated_constraint(error) == UNIQUE_ACTIVE_EMAIL:
            raise DuplicateEmail(email) from None
        raise


# --- availability ------------------------------------------------------------------------
# The form asks for days in the display timezone; the contact keeps the instants routing
# compares with: the start of the first day away and the start of the day after the last.


def away_days(contact: Contact) -> tuple[date | None, date | None]:
    """The first and last day away, as the availability form shows them."""
    first = local_time(contact.away_from)
    back = local_time(contact.away_until)
    return (
        first.date() if first else None,
        (back - timedelta(microseconds=1)).date() if back else None,
    )


def topic_choices(contact: Contact | None = None) -> list[tuple[int, str]]:
    """Active topics, and any inactive one the contact still has ticked."""
    kept = {topic.id for topic in contact.topics} if contact is not None else set()
    topics = db.session.scalars(select(Topic).order_by(Topic.sort_order, Topic.name_en))
    return [(topic.id, topic.name_en) for topic in topics if topic.active or topic.id in kept]


def apply_availability(contact: Contact, data: dict) -> None:
    contact.accepts_inquiries = bool(data.get("accepts_inquiries"))
    # New lists, never mutated in place, so the change is seen and audited.
    contact.languages = list(data.get("languages") or [])
    first, last = data.get("away_from"), data.get("away_until")
    contact.away_from = local_midnight(first).astimezone(UTC) if first else None
    contact.away_until = local_midnight(last + timedelta(days=1)).astimezone(UTC) if last else None
    contact.away_note = data.get("away_note") or "" if (first or last) else ""
    topic_ids = list(data.get("topics") or [])
    contact.topics = list(db.session.scalars(select(Topic).where(Topic.id.in_(topic_ids)))) if topic_ids else []


def save_availability(contact: Contact, data: dict, actor: User) -> None:
    apply_availability(contact, data)
    audit.commit(actor)


def apply_form(contact: Contact, data: dict) -> None:
    for field in ("name", "title", "email", "phone", "notes"):
        setattr(contact, field, data.get(field) or "")
    contact.organisation_id = data.get("organisation_id")
    apply_availability(contact, data)
    contact.roles = list(data.get("roles") or [])
    contact.show_on_public_page = bool(data.get("show_on_public_page"))


def stage(contact: Contact, data: dict) -> Contact:
    """Check and apply validated form data to the session without committing (save commits;
    an import stages many rows and commits them together). Raises DuplicateEmail before
    changing anything."""
    will_be_active = contact.active is not False
    if will_be_active and data.get("email") and email_taken(data["email"], excluding_id=contact.id):
        raise DuplicateEmail(data["email"])
    apply_form(contact, data)
    db.session.add(contact)
    with db.session.no_autoflush:
        _link_user(contact)
    return contact


def save(contact: Contact, data: dict, actor: User) -> Contact:
    """Create or update from validated form data; raises DuplicateEmail and leaves nothing written."""
    stage(contact, data)
    _commit_unless_email_taken(actor, contact.email)
    return contact


def set_active(contact: Contact, active: bool, actor: User) -> None:
    """Deactivate or reactivate; reactivating onto an email another active contact uses raises DuplicateEmail."""
    if active and not contact.active and contact.email and email_taken(contact.email, excluding_id=contact.id):
        raise DuplicateEmail(contact.email)
    contact.active = active
    _commit_unless_email_taken(actor, contact.email)


def interactions_with(contact: Contact) -> list[Interaction]:
    """The interactions this contact took part in, newest first."""
    return list(db.session.scalars(newest_first().where(Interaction.contacts.any(Contact.id == contact.id))))


def history(contact: Contact) -> list[AuditEvent]:
    return audit.history_for("Contact", contact.id)
