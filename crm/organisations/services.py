from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crm import audit
from crm.database import like_pattern
from crm.extensions import db
from crm.models import Contact, County, Interaction, Organisation, OrganisationKind, RecordStatus, Region, User
from crm.models.organisation import name_key


class DuplicateName(ValueError):
    pass


class BackupNotAllowed(ValueError):
    """The chosen backup is not one of the organisation's active contacts who take inquiries."""


@dataclass(frozen=True)
class OrganisationFilters:
    q: str = ""
    kind: str = ""
    region_id: int | None = None
    status: str = ""


def search(filters: OrganisationFilters) -> Select:
    query = (
        select(Organisation)
        .options(selectinload(Organisation.regions))
        .where(Organisation.merged_into_id.is_(None))
        .order_by(Organisation.name_key)
    )
    if filters.q:
        # The name's key is casefolded in Python (name_key); the other columns are lowered by
        # the database, which leaves "ß" as it is where casefold() makes it "ss".
        folded, lowered = like_pattern(filters.q.casefold()), like_pattern(filters.q.lower())
        query = query.where(
            or_(
                Organisation.name_key.like(folded, escape="\\"),
                func.lower(Organisation.description).like(lowered, escape="\\"),
                func.lower(Organisation.city).like(lowered, escape="\\"),
            )
        )
    if filters.kind:
        query = query.where(Organisation.kind == OrganisationKind(filters.kind))
    if filters.status:
        query = query.where(Organisation.status == RecordStatus(filters.status))
    if filters.region_id:
        query = query.where(Organisation.regions.any(Region.id == filters.region_id))
    return query


def region_choices() -> list[tuple[int, str]]:
    return [(region.id, region.name) for region in db.session.scalars(select(Region).order_by(Region.name))]


def county_choices() -> list[tuple[str, str]]:
    return [(county.fips, county.name) for county in db.session.scalars(select(County).order_by(County.name))]


def backup_choices(organisation: Organisation | None) -> list[tuple[int, str]]:
    """The organisation's active contacts who take inquiries; a current backup who no longer
    qualifies stays on the menu, marked, so saving the form says so rather than dropping them."""
    if organisation is None or organisation.id is None:
        return []
    people = db.session.scalars(
        select(Contact).where(Contact.organisation_id == organisation.id).order_by(func.lower(Contact.name), Contact.id)
    )
    choices = []
    for person in people:
        if may_be_backup(organisation, person):
            choices.append((person.id, person.name))
        elif person.id == organisation.backup_contact_id:
            choices.append((person.id, f"{person.name} (no longer takes inquiries)"))
    return choices


def may_be_backup(organisation: Organisation, contact: Contact | None) -> bool:
    return (
        contact is not None
        and organisation.id is not None
        and contact.organisation_id == organisation.id
        and contact.active
        and contact.accepts_inquiries
    )


def name_taken(name: str, excluding_id: int | None = None) -> bool:
    query = select(Organisation.id).where(Organisation.name_key == name_key(name))
    if excluding_id is not None:
        query = query.where(Organisation.id != excluding_id)
    return db.session.scalar(query) is not None


def apply_form(organisation: Organisation, data: dict) -> None:
    for field in ("name", "description", "description_es", "website", "email", "phone", "address_line", "city", "postal_code"):
        setattr(organisation, field, data.get(field) or "")
    organisation.state = (data.get("state") or "").upper()
    organisation.kind = OrganisationKind(data["kind"])
    organisation.regions = list(db.session.scalars(select(Region).where(Region.id.in_(data.get("regions") or []))))
    organisation.counties = list(db.session.scalars(select(County).where(County.fips.in_(data.get("counties") or []))))
    organisation.backup_contact_id = data.get("backup_contact_id")


def stage(organisation: Organisation, data: dict) -> Organisation:
    """Check and apply validated form data to the session without committing (save commits;
    an import stages many rows and commits them together). Raises DuplicateName or
    BackupNotAllowed before changing anything."""
    if name_taken(data["name"], excluding_id=organisation.id):
        raise DuplicateName(data["name"])
    backup_id = data.get("backup_contact_id")
    if backup_id is not None and not may_be_backup(organisation, db.session.get(Contact, backup_id)):
        raise BackupNotAllowed(backup_id)
    apply_form(organisation, data)
    db.session.add(organisation)
    return organisation


def save(organisation: Organisation, data: dict, actor: User) -> Organisation:
    """Create or update from validated form data; raises DuplicateName and leaves nothing written."""
    stage(organisation, data)
    try:
        audit.commit(actor)
    except IntegrityError:
        # Another request took the name between our check and the insert.
        db.session.rollback()
        raise DuplicateName(data["name"]) from None
    return organisation


def set_status(organisation: Organisation, status: RecordStatus, actor: User) -> None:
    organisation.status = status
    audit.commit(actor)


def timeline(organisation: Organisation) -> list[Interaction]:
    return list(
        db.session.scalars(
            select(Interaction)
            .options(selectinload(Interaction.contacts), selectinload(Interaction.logged_by))
            .where(Interaction.organisation_id == organisation.id)
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
        )
    )


def last_touch(interactions: list[Interaction]) -> datetime | None:
    return max((item.occurred_at for item in interactions), default=None)
