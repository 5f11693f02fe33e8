"""Possible duplicates from the database, and merging one record into another.

A merge keeps one record (the survivor) with the field values chosen for it, moves every row
that points at the other (crm.merging.references) and keeps that other record, marked as
merged into the survivor (``merged_into_id``), inactive and hidden from lists. All of it is
one transaction, audited on both records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import selectinload

from crm import audit
from crm.extensions import db
from crm.holidays import calendars
from crm.languages import language_name
from crm.merging import duplicates, references
from crm.models import AuditEvent, Contact, Inquiry, Organisation, RecordStatus, Topic, User
from crm.models.contact import ContactRole
from crm.models.inquiry import awaiting_response_clause
from crm.models.organisation import OrganisationKind, name_key
from crm.organisations.services import may_be_backup

KEEP = "survivor"
TAKE = "merged"


class MergeRefused(ValueError):
    """A merge that cannot go ahead, with the sentence that says why and the HTTP status."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Kind:
    """What can be merged: contacts or organisations, and the fields a person chooses between."""

    key: str  # "contacts", "organisations": the URL's word
    model: type
    singular: str
    fields: tuple[tuple[str, str], ...]  # (attribute, label)
    # Rows decided by a field choice rather than moved: the column's label -> the field.
    chosen_by_field: dict[str, str] = field(default_factory=dict)
    # Rows the database keeps from other rows, by the column's label: not moved, as its
    # triggers move what they count with the rows counted (crm.models.open_load).
    kept_by_database: frozenset[str] = frozenset()


CONTACTS = Kind(
    "contacts",
    Contact,
    "contact",
    (
        ("name", "Name"),
        ("active", "Active"),
        ("organisation_id", "Organisation"),
        ("title", "Title"),
        ("email", "Email"),
        ("phone", "Phone"),
        ("languages", "Languages"),
        ("roles", "Roles"),
        ("notes", "Notes"),
        ("show_on_public_page", "On the public contact page"),
        ("accepts_inquiries", "Takes inquiries"),
        ("topics", "Topics handled"),
        ("external_id", "External id"),
    ),
    {"contact_topics.contact_id": "topics"},
    frozenset({"contact_open_loads.contact_id"}),
)
ORGANISATIONS = Kind(
    "organisations",
    Organisation,
    "organisation",
    (
        ("name", "Name"),
        ("kind", "Kind"),
        ("status", "Status"),
        ("description", "Description"),
        ("description_es", "Description in Spanish"),
        ("website", "Website"),
        ("email", "Email"),
        ("phone", "Phone"),
        ("address_line", "Address"),
        ("city", "City"),
        ("state", "State"),
        ("postal_code", "ZIP code"),
        ("backup_contact_id", "Backup contact"),
        ("external_id", "External id"),
    ),
)
KINDS = {kind.key: kind for kind in (CONTACTS, ORGANISATIONS)}

# What the preview calls the rows that move; a column not named here shows as table.column.
REFERENCE_LABELS = {
    "account_tokens.contact_id": "Sign-in invitations and links (contact)",
    "account_tokens.organisation_id": "Sign-in invitations and links (organisation)",
    "contacts.merged_into_id": "Contacts merged into it earlier",
    "contacts.organisation_id": "Contacts",
    "grants.organisation_id": "Grants",
    "holiday_calendars.organisation_id": "Holiday calendar",
    "inquiries.assigned_contact_id": "Inquiries assigned",
    "inquiries.organisation_id": "Inquiries routed to it",
    "inquiries.outcome_organisation_id": "Inquiries referred to it",
    "inquiries.requester_contact_id": "Inquiries it sent",
    "inquiry_passes.contact_id": "Inquiries passed on",
    "inquiry_passes.moved_to_contact_id": "Inquiries passed on to it",
    "interaction_contacts.contact_id": "Interactions taken part in",
    "interactions.organisation_id": "Interactions",
    "organisation_counties.organisation_id": "Counties served",
    "organisation_regions.organisation_id": "Regions served",
    "organisations.backup_contact_id": "Organisations it is the backup of",
    "organisations.merged_into_id": "Organisations merged into it earlier",
    "routing_rules.target_contact_id": "Routing rules sending to it",
    "routing_rules.target_organisation_id": "Routing rules sending to it",
    "users.contact_id": "User account",
    "users.organisation_id": "Partner user accounts",
}


# --- possible duplicates -----------------------------------------------------------------


def _not_merged(model):
    return model.merged_into_id.is_(None)


def contact_duplicates() -> list[duplicates.Pair]:
    """Pairs of contacts not yet merged that may be one person.

    The database blocks first: only contacts sharing an email (ignoring case) with another,
    with a phone, or at an organisation with other contacts can pair, and only the five
    columns the rules read are loaded. Phone digits and names are compared in Python."""
    live = _not_merged(Contact)
    shared_emails = (
        select(func.lower(Contact.email))
        .where(live, Contact.email != "")
        .group_by(func.lower(Contact.email))
        .having(func.count() > 1)
    )
    shared_organisations = (
        select(Contact.organisation_id)
        .where(live, Contact.organisation_id.is_not(None))
        .group_by(Contact.organisation_id)
        .having(func.count() > 1)
    )
    rows = db.session.execute(
        select(Contact.id, Contact.name, Contact.email, Contact.phone, Contact.organisation_id).where(
            live,
            or_(
                Contact.phone != "",
                func.lower(Contact.email).in_(shared_emails),
                Contact.organisation_id.in_(shared_organisations),
            ),
        )
    )
    contacts = [duplicates.ContactRow(*row) for row in rows]
    return duplicates.contact_pairs(contacts, current_app.config["DUPLICATE_NAME_THRESHOLD"])


def organisation_duplicates() -> list[duplicates.Pair]:
    rows = db.session.execute(select(Organisation.id, Organisation.name).where(_not_merged(Organisation)))
    organisations = [duplicates.NamedRow(*row) for row in rows]
    return duplicates.organisation_pairs(organisations, current_app.config["DUPLICATE_NAME_THRESHOLD"])


def possible_duplicates(kind: Kind) -> tuple[list[tuple[duplicates.Pair, Any, Any]], int]:
    """The likeliest pairs (at most DUPLICATES_SHOWN) with their records, and how many there are."""
    pairs = contact_duplicates() if kind is CONTACTS else organisation_duplicates()
    shown = pairs[: current_app.config["DUPLICATES_SHOWN"]]
    ids = {pair.first_id for pair in shown} | {pair.second_id for pair in shown}
    query = select(kind.model).where(kind.model.id.in_(ids))
    if kind is CONTACTS:
        query = query.options(selectinload(Contact.organisation))
    records = {record.id: record for record in db.session.scalars(query)} if ids else {}
    return [(pair, records[pair.first_id], records[pair.second_id]) for pair in shown], len(pairs)


# --- the merge ---------------------------------------------------------------------------


def value_of(record: Any, name: str) -> Any:
    value = getattr(record, name)
    if name == "topics":
        return [topic.id for topic in value]
    return value


def shown(record: Any, name: str) -> str:
    """A field's value as the side-by-side page shows it."""
    value = getattr(record, name)
    if name == "organisation_id":
        return record.organisation.name if record.organisation else ""
    if name == "backup_contact_id":
        return record.backup_contact.name if record.backup_contact else ""
    if name == "topics":
        return ", ".join(topic.name_en for topic in value)
    if name == "languages":
        return ", ".join(language_name(code) for code in value or [])
    if name == "roles":
        return ", ".join(ContactRole(code).label if code in set(ContactRole) else code for code in value or [])
    if isinstance(value, OrganisationKind | RecordStatus):
        return value.label
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return "" if value is None else str(value)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def default_choices(kind: Kind, survivor: Any, loser: Any) -> dict[str, str]:
    """The survivor's value wherever it has one; the merged record's where only it has one.
    An active contact merged into an inactive one leaves it active."""
    return {
        name: TAKE
        if (_empty(value_of(survivor, name)) and not _empty(value_of(loser, name)))
        or (name == "active" and loser.active and not survivor.active)
        else KEEP
        for name, _label in kind.fields
    }


def version(survivor: Any, loser: Any) -> str:
    """A fingerprint of both records as shown: a form sent after either changed is stale."""
    state = [audit.snapshot(survivor), audit.snapshot(loser)]
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:32]


def load_pair(kind: Kind, survivor_id: int, loser_id: int, for_update: bool = False) -> tuple[Any, Any]:
    """Both records, or MergeRefused saying why they cannot be merged."""
    if survivor_id == loser_id:
        raise MergeRefused(f"Choose two different {kind.key}: a {kind.singular} cannot be merged into itself.", 400)
    query = select(kind.model).where(kind.model.id.in_([survivor_id, loser_id]))
    if for_update:
        # Two people merging the same records at once: the second waits, then sees the first.
        query = query.with_for_update().execution_options(populate_existing=True)
    found = {record.id: record for record in db.session.scalars(query)}
    if survivor_id not in found or loser_id not in found:
        raise MergeRefused(f"One of the two {kind.key} does not exist.", 404)
    survivor, loser = found[survivor_id], found[loser_id]
    for record in (survivor, loser):
        if record.merged_into_id is not None:
            raise MergeRefused(
                f"{record.name} was already merged into another {kind.singular}; merge that one instead.", 409
            )
    return survivor, loser


@dataclass
class Plan:
    """What a merge will do: the field values, the rows that move, and any reason it cannot."""

    moves: list[tuple[str, int, int]]  # (table.column, moving, dropped as duplicates)
    refusals: list[str]

    @property
    def changes(self) -> list[tuple[str, int, int]]:
        """The references with rows to move or drop."""
        return [move for move in self.moves if move[1] or move[2]]

    @property
    def moving(self) -> int:
        return sum(moving for _, moving, _ in self.moves)


def _one_per_record_refusal(kind: Kind, reference: references.Reference) -> str:
    if reference.label == "users.contact_id":
        return (
            "Both contacts sign in with a user account of their own; a user is one contact. "
            "Deactivate or re-link one of the two accounts first."
        )
    if reference.label == "holiday_calendars.organisation_id":
        return "Both organisations have a holiday calendar of their own; keep one (delete the other's) first."
    return f"Both {kind.key} have a row in {reference.table.name}, which allows one per {kind.singular}."


def plan(kind: Kind, survivor: Any, loser: Any) -> Plan:
    moves, refusals = [], []
    for reference in references.references_to(kind.model.__table__):
        if reference.label in kind.chosen_by_field or reference.label in kind.kept_by_database:
            continue
        moving, dropped = references.plan(reference, loser.id, survivor.id)
        if reference.kind is references.Kind.ONE_PER_RECORD and moving and references.count(reference, survivor.id):
            refusals.append(_one_per_record_refusal(kind, reference))
        moves.append((reference.label, moving, dropped))
    return Plan(moves, refusals)


def parse_choices(kind: Kind, form: dict[str, str], survivor: Any, loser: Any) -> dict[str, str]:
    """The choice of each field from the posted form; a field whose two values are the same
    needs none. A missing or unknown choice is a MergeRefused (400)."""
    choices = {}
    for name, label in kind.fields:
        if value_of(survivor, name) == value_of(loser, name):
            choices[name] = KEEP
            continue
        choice = form.get(f"field-{name}", "")
        if choice not in (KEEP, TAKE):
            raise MergeRefused(f"Choose which {label.lower()} to keep.", 400)
        choices[name] = choice
    return choices


def result(kind: Kind, survivor: Any, loser: Any, choices: dict[str, str]) -> list[tuple[str, str, str]]:
    """(label, value after the merge, from which record) for the preview."""
    rows = []
    for name, label in kind.fields:
        source = loser if choices[name] == TAKE else survivor
        rows.append((label, shown(source, name), "merged" if choices[name] == TAKE else "kept"))
    return rows


def _retire(kind: Kind, survivor: Any, loser: Any) -> None:
    """Mark the loser merged, inactive and out of every unique key the survivor may need."""
    loser.merged_into_id = survivor.id
    if kind is CONTACTS:
        loser.active = False
        loser.accepts_inquiries = False
        loser.is_inquiry_fallback = False
        loser.topics = []
    else:
        loser.status = RecordStatus.INACTIVE
        loser.backup_contact_id = None
        # Its name stays as it was; its key no longer blocks the name for the survivor or a new record.
        loser.name_key = f"{name_key(loser.name)} (merged {loser.id})"[-200:]


def survivor_of(record: Any) -> Any:
    """The record a merged record was merged into (following earlier merges); any other
    record (of any model), or None, as it is."""
    while record is not None and getattr(record, "merged_into_id", None) is not None:
        record = db.session.get(type(record), record.merged_into_id)
    return record


def merged_organisation_named(key: str) -> Organisation | None:
    """An organisation merged into another under the name with this ``name_key``, which
    _retire made unique so the name is free; the oldest if several."""
    candidates = db.session.scalars(
        select(Organisation)
        .where(
            Organisation.merged_into_id.is_not(None),
            Organisation.name_key.startswith(f"{key} (merged ", autoescape=True),
        )
        .order_by(Organisation.id)
    )
    return next((organisation for organisation in candidates if name_key(organisation.name) == key), None)


def _apply(kind: Kind, survivor: Any, loser: Any, choices: dict[str, str], taken: dict[str, Any]) -> None:
    for name, choice in choices.items():
        if choice != TAKE:
            continue
        value = taken[name]
        if name == "topics":
            survivor.topics = list(db.session.scalars(select(Topic).where(Topic.id.in_(value)))) if value else []
        elif isinstance(value, list):
            setattr(survivor, name, list(value))
        else:
            setattr(survivor, name, value)


def merge(kind: Kind, survivor_id: int, loser_id: int, form: dict[str, str], actor: User) -> Plan:
    """Merge the loser into the survivor with the fields chosen in ``form``, in one transaction.

    Refused (MergeRefused, nothing written) when the records are the same, missing or already
    merged, a choice is missing, either record changed since the form was shown (its
    ``version``), or a one-per-record row exists on both sides.
    """
    survivor, loser = load_pair(kind, survivor_id, loser_id, for_update=True)
    if form.get("version") != version(survivor, loser):
        raise MergeRefused(
            f"One of the two {kind.key} was changed since this page was shown. Review the merge again.", 409
        )
    choices = parse_choices(kind, form, survivor, loser)
    merge_plan = plan(kind, survivor, loser)
    if merge_plan.refusals:
        raise MergeRefused(" ".join(merge_plan.refusals), 409)
    taken = {name: value_of(loser, name) for name, choice in choices.items() if choice == TAKE}
    if kind is CONTACTS:
        _refuse_a_used_email(survivor, loser, taken)
    was_fallback = kind is CONTACTS and loser.is_inquiry_fallback
    old_external_id = survivor.external_id
    _retire(kind, survivor, loser)
    if "external_id" in taken:
        loser.external_id = None
    db.session.flush()  # the loser leaves the unique keys before the survivor takes its values
    _apply(kind, survivor, loser, choices, taken)
    if was_fallback:
        survivor.is_inquiry_fallback = True
    db.session.flush()
    if "external_id" in taken and old_external_id:
        # The two ids swap, so a re-import of either spreadsheet row still finds the survivor.
        loser.external_id = old_external_id
    moved = {}
    kept = []
    for reference in references.references_to(kind.model.__table__):
        if reference.label in kind.chosen_by_field:
            continue
        if reference.label in kind.kept_by_database:
            kept.append(reference)
            continue
        moving, dropped = references.move(reference, loser.id, survivor.id)
        if moving or dropped:
            moved[reference.label] = moving if not dropped else f"{moving} (and {dropped} duplicates dropped)"
    for reference in kept:
        # What the triggers keep for the merged record counts nothing now that its rows moved.
        db.session.execute(delete(reference.table).where(reference.column == loser.id))
    _check_backups(kind, survivor)
    _move_deadlines(kind, survivor)
    db.session.add_all(_merge_events(kind, survivor, loser, choices, moved, actor))
    audit.commit(actor)
    return merge_plan


def _refuse_a_used_email(survivor: Contact, loser: Contact, taken: dict[str, Any]) -> None:
    """MergeRefused when the contact kept would be active with an email another active
    contact (neither of the two) uses: an active contact's email is unique."""
    active = taken.get("active", survivor.active)
    email = taken.get("email", survivor.email)
    if not (active and email and ("email" in taken or "active" in taken)):
        return
    used = db.session.scalar(
        select(Contact.id)
        .where(
            func.lower(Contact.email) == func.lower(email),
            Contact.active.is_(True),
            Contact.id.not_in([survivor.id, loser.id]),
        )
        .limit(1)
    )
    if used is not None:
        which = "keep this contact's email" if "email" in taken else "change one of the two emails first"
        raise MergeRefused(f"Another active contact already uses {email}; {which}.", 409)


def _move_deadlines(kind: Kind, survivor: Any) -> None:
    """Work out again the deadlines of the kept organisation's inquiries still awaiting a first
    response, as a reassignment does: the merged one's inquiries now follow the kept one's
    holidays, and the kept one's follow the merged one's calendar when it moved over."""
    if kind is not ORGANISATIONS:
        return
    # The rows were moved by statements the session did not see: read them afresh.
    inquiries = db.session.scalars(
        select(Inquiry)
        .where(awaiting_response_clause(), Inquiry.organisation_id == survivor.id, Inquiry.due_at.is_not(None))
        .options(selectinload(Inquiry.topic))
        .execution_options(populate_existing=True)
    ).all()
    calendar = calendars.calendar_for(survivor.id)
    for inquiry in inquiries:
        due = calendars.due_at(inquiry, calendar)
        if due != inquiry.due_at:
            inquiry.due_at = due


def _check_backups(kind: Kind, survivor: Any) -> None:
    """An organisation whose backup was the merged contact now names the survivor; where the
    survivor is not one of that organisation's contacts who take inquiries, it has no backup."""
    if kind is not CONTACTS:
        return
    db.session.expire_all()
    for organisation in db.session.scalars(select(Organisation).where(Organisation.backup_contact_id == survivor.id)):
        if not may_be_backup(organisation, survivor):
            organisation.backup_contact_id = None


def _merge_events(kind, survivor, loser, choices, moved, actor) -> list[AuditEvent]:
    entity_type = kind.model.__name__
    taken = sorted(label for name, label in kind.fields if choices[name] == TAKE)
    common = {"fields taken from the merged record": [None, taken], "rows moved": [None, moved]}
    return [
        AuditEvent(
            actor_id=actor.id,
            action="merge",
            entity_type=entity_type,
            entity_id=str(survivor.id),
            changes={"merged from": [None, f"#{loser.id} {loser.name}"], **common},
        ),
        AuditEvent(
            actor_id=actor.id,
            action="merge",
            entity_type=entity_type,
            entity_id=str(loser.id),
            changes={"merged into": [None, f"#{survivor.id} {survivor.name}"], **common},
        ),
    ]
