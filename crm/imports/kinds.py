"""What each kind of import reads: its fields, how a cell becomes what the record's own form
is posted, how a row finds the record it updates, and the form and service that check and save
it. The import goes through the same form validation and service functions as the pages do,
so every rule (unique names and emails, grant dates, contacts of the organisation) holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from werkzeug.datastructures import MultiDict

from crm import audit, timezones
from crm.contacts import services as contacts
from crm.contacts.forms import ContactForm
from crm.extensions import db
from crm.forms import CrmForm
from crm.grants import services as grants
from crm.grants.forms import GrantForm
from crm.imports.reading import money_text, parse_date, parse_time, text_value
from crm.interactions import services as interactions
from crm.interactions.forms import InteractionForm
from crm.merging import services as merging
from crm.models import (
    Contact,
    Grant,
    GrantStatus,
    Interaction,
    InteractionKind,
    Organisation,
    OrganisationKind,
    User,
)
from crm.models.organisation import name_key
from crm.organisation_menu import organisation_choices
from crm.organisations import services as organisations
from crm.organisations.forms import OrganisationForm

# A new interaction whose file gives a date but no time is logged at noon, local time.
DEFAULT_TIME = "12:00"
EXTERNAL_ID_MAX = 100


class RowRefused(ValueError):
    """This row cannot be imported; the message says why."""


# --- turning a cell into what the form is posted ------------------------------------------


def as_text(value: Any, _lookups: Lookups) -> list[str]:
    return [text_value(value)]


def as_date(value: Any, _lookups: Lookups) -> list[str]:
    return [parse_date(value).isoformat()]


def as_time(value: Any, _lookups: Lookups) -> list[str]:
    return [parse_time(value).strftime("%H:%M")]


def as_money(value: Any, _lookups: Lookups) -> list[str]:
    return [money_text(value)]


def as_dates(value: Any, _lookups: Lookups) -> list[str]:
    """Report due dates: one cell, dates separated by semicolons or line breaks."""
    if not isinstance(value, str):
        return [parse_date(value).isoformat()]
    parts = [part.strip() for part in value.replace("\n", ";").split(";") if part.strip()]
    return ["\n".join(parse_date(part).isoformat() for part in parts)]


def as_choice(enum_type) -> Callable[[Any, Lookups], list[str]]:
    """A value of an enum, written as its code ("site_visit") or its label ("Site visit")."""

    def convert(value: Any, _lookups: Lookups) -> list[str]:
        text = " ".join(text_value(value).split()).casefold()
        for member in enum_type:
            if text in (member.value.casefold(), member.label.casefold(), member.value.replace("_", " ")):
                return [member.value]
        labels = ", ".join(member.label for member in enum_type)
        raise ValueError(f"“{text_value(value)[:40]}” is not one of: {labels}.")

    return convert


def _organisation_named(key: str) -> Organisation | None:
    """The organisation with this name key; else one merged under that name, whose rows then
    update the organisation it was merged into."""
    found = db.session.scalar(select(Organisation).where(Organisation.name_key == key))
    return found if found is not None else merging.merged_organisation_named(key)


def _contact_with_email(key: str) -> Contact | None:
    """The active contact with this email (lower case); else one merged into another, whose
    rows then update the contact it was merged into."""
    return db.session.scalar(
        select(Contact)
        .where(
            func.lower(Contact.email) == key,
            or_(Contact.active.is_(True), Contact.merged_into_id.is_not(None)),
        )
        .order_by(Contact.active.desc(), Contact.id)
        .limit(1)
    )


def as_organisation(value: Any, lookups: Lookups) -> list[str]:
    name = text_value(value)
    organisation = lookups.organisation_named(name)
    if organisation is None:
        raise ValueError(f"No organisation is called “{name[:100]}”; import the organisations first.")
    return [str(organisation.id)]


def as_contact_emails(value: Any, lookups: Lookups) -> list[str]:
    """Contacts by email, separated by semicolons, commas or line breaks."""
    ids = []
    for email in text_value(value).replace("\n", ";").replace(",", ";").split(";"):
        email = email.strip()
        if not email:
            continue
        contact = lookups.contact_with_email(email)
        if contact is None:
            raise ValueError(f"No active contact has the email {email[:100]}.")
        ids.append(str(contact.id))
    return ids


@dataclass(frozen=True)
class ImportField:
    name: str  # the form field it is posted as, or "external_id"
    label: str
    convert: Callable[[Any, Lookups], list[str]] = as_text
    # Headings that mean this field without asking ("Organization", "E-mail"), compared
    # ignoring case, spaces and punctuation.
    also: tuple[str, ...] = ()
    # A date field whose cell may also give the time of day ("3/2/2026 2:30 PM"): the field
    # that time goes to, when the row gives none of its own.
    time_field: str | None = None


EXTERNAL_ID = ImportField("external_id", "External id", also=("id", "external id", "record id", "ref", "reference"))


class Lookups:
    """What rows look up, cached for one import: organisations by name, contacts by email,
    and the organisation menu the forms check a choice against."""

    def __init__(self) -> None:
        self._organisations: dict[str, Organisation | None] = {}
        self._contacts: dict[str, Contact | None] = {}
        self._menu: list[tuple[int, str]] | None = None
        self._regions: list[tuple[int, str]] | None = None
        self._counties: list[tuple[str, str]] | None = None

    def regions(self) -> list[tuple[int, str]]:
        if self._regions is None:
            self._regions = organisations.region_choices()
        return self._regions

    def counties(self) -> list[tuple[str, str]]:
        if self._counties is None:
            self._counties = organisations.county_choices()
        return self._counties

    def organisation_named(self, name: str) -> Organisation | None:
        key = name_key(name)
        if key not in self._organisations:
            self._organisations[key] = merging.survivor_of(_organisation_named(key))
        return self._organisations[key]

    def contact_with_email(self, email: str) -> Contact | None:
        key = email.strip().lower()
        if key not in self._contacts:
            self._contacts[key] = merging.survivor_of(_contact_with_email(key))
        return self._contacts[key]

    def organisation_menu(self, current_id: int | None) -> list[tuple[int, str]]:
        """The active organisations, and the record's own even if inactive (as the edit pages)."""
        if self._menu is None:
            self._menu = organisation_choices()
        menu = self._menu
        if current_id is not None and all(id_ != current_id for id_, _ in menu):
            organisation = db.session.get(Organisation, current_id)
            menu = [*menu, (current_id, organisation.name if organisation else str(current_id))]
        return menu


# --- the kinds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    model: type
    fields: tuple[ImportField, ...]
    required: tuple[str, ...]  # fields a new record cannot do without
    form: Callable[[MultiDict, Any, Lookups], CrmForm]
    posted: Callable[[Any], dict[str, list[str]]]  # a record as its edit form posts it
    defaults: dict[str, list[str]]  # a new record's form, before the row's cells
    natural_key: Callable[[dict[str, Any]], tuple | None]  # from a validated form's data
    find: Callable[[tuple], Any]
    stage: Callable[[Any, dict, User | None], None]
    describe: Callable[[dict[str, Any]], str]
    # What a row whose natural key repeats an earlier row is called ("the same email").
    key_words: str = "the same record"
    fingerprint_extra: Callable[[Any], Any] = field(default=lambda _record: None)

    def field(self, name: str) -> ImportField | None:
        return next((item for item in self.fields if item.name == name), None)

    def fingerprint(self, record: Any) -> Any:
        """What an update is compared on, to tell it changed nothing."""
        return (audit.snapshot(record), self.fingerprint_extra(record))


def _form(form_class, formdata: MultiDict, **kwargs) -> CrmForm:
    return form_class(formdata=formdata, meta={"csrf": False}, **kwargs)


# Organisations -----------------------------------------------------------------------------


def _organisation_form(formdata: MultiDict, record: Organisation | None, lookups: Lookups) -> CrmForm:
    form = _form(OrganisationForm, formdata)
    form.regions.choices = lookups.regions()
    form.counties.choices = lookups.counties()
    form.backup_contact_id.choices = [("", "No backup"), *organisations.backup_choices(record)]
    return form


def _organisation_posted(record: Organisation) -> dict[str, list[str]]:
    posted = {
        name: [getattr(record, name) or ""]
        for name in ("name", "description", "description_es", "website", "email", "phone", "address_line", "city", "state", "postal_code")
    }
    posted["kind"] = [record.kind.value]
    posted["regions"] = [str(region.id) for region in record.regions]
    posted["counties"] = [county.fips for county in record.counties]
    posted["backup_contact_id"] = [str(record.backup_contact_id) if record.backup_contact_id else ""]
    return posted


def _stage_organisation(record: Organisation, data: dict, _actor: User | None) -> None:
    try:
        organisations.stage(record, data)
    except organisations.DuplicateName:
        raise RowRefused("Another organisation already has this name.") from None
    except organisations.BackupNotAllowed:
        raise RowRefused(organisations_backup_message()) from None


def organisations_backup_message() -> str:
    return "The backup must be one of this organisation's active contacts who take inquiries."


ORGANISATIONS = Kind(
    name="organisations",
    label="Organisations",
    model=Organisation,
    fields=(
        EXTERNAL_ID,
        ImportField("name", "Name", also=("organisation", "organization", "organisation name", "organization name")),
        ImportField("kind", "Kind", as_choice(OrganisationKind), also=("type",)),
        ImportField("description", "Description"),
        ImportField("website", "Website", also=("web", "url", "web site")),
        ImportField("email", "Email", also=("e-mail", "email address")),
        ImportField("phone", "Phone", also=("telephone", "phone number")),
        ImportField("address_line", "Street address", also=("address", "street")),
        ImportField("city", "City"),
        ImportField("state", "State"),
        ImportField("postal_code", "ZIP code", also=("zip", "postal code", "zip code", "zipcode")),
    ),
    required=("name",),
    form=_organisation_form,
    posted=_organisation_posted,
    defaults={"kind": [OrganisationKind.GRANTEE.value], "state": ["MO"]},
    natural_key=lambda data: (name_key(data["name"]),),
    find=lambda key: _organisation_named(key[0]),
    stage=_stage_organisation,
    describe=lambda data: data["name"],
    key_words="the same name",
)


# Contacts ----------------------------------------------------------------------------------


def _contact_form(formdata: MultiDict, record: Contact | None, lookups: Lookups) -> CrmForm:
    form = _form(ContactForm, formdata)
    form.organisation_id.choices = [("", "No organisation"), *lookups.organisation_menu(record.organisation_id if record else None)]
    form.topics.choices = contacts.topic_choices(record)
    return form


def _contact_posted(record: Contact) -> dict[str, list[str]]:
    first, last = contacts.away_days(record)
    posted = {name: [getattr(record, name) or ""] for name in ("name", "title", "email", "phone", "notes", "away_note")}
    posted["organisation_id"] = [str(record.organisation_id) if record.organisation_id else ""]
    posted["languages"] = list(record.languages or [])
    posted["roles"] = list(record.roles or [])
    posted["topics"] = [str(topic.id) for topic in record.topics]
    posted["away_from"] = [first.isoformat() if first else ""]
    posted["away_until"] = [last.isoformat() if last else ""]
    if record.accepts_inquiries:
        posted["accepts_inquiries"] = ["y"]
    if record.show_on_public_page:
        posted["show_on_public_page"] = ["y"]
    return posted


def _stage_contact(record: Contact, data: dict, _actor: User | None) -> None:
    try:
        contacts.stage(record, data)
    except contacts.DuplicateEmail:
        raise RowRefused("Another active contact already has this email.") from None


def _contact_key(data: dict) -> tuple | None:
    return (data["email"].lower(),) if data.get("email") else None


CONTACTS = Kind(
    name="contacts",
    label="Contacts",
    model=Contact,
    fields=(
        EXTERNAL_ID,
        ImportField("name", "Name", also=("full name", "contact", "contact name")),
        ImportField("organisation_id", "Organisation (its name)", as_organisation, also=("organisation", "organization", "organisation name", "organization name", "agency")),
        ImportField("title", "Job title", also=("title", "position", "role")),
        ImportField("email", "Email", also=("e-mail", "email address")),
        ImportField("phone", "Phone", also=("telephone", "phone number", "mobile")),
        ImportField("notes", "Notes"),
    ),
    required=("name",),
    form=_contact_form,
    posted=_contact_posted,
    defaults={"languages": ["en"]},
    natural_key=_contact_key,
    find=lambda key: _contact_with_email(key[0]),
    stage=_stage_contact,
    describe=lambda data: data["name"],
    key_words="the same email",
)


# Grants ------------------------------------------------------------------------------------


def _grant_form(formdata: MultiDict, record: Grant | None, lookups: Lookups) -> CrmForm:
    form = _form(GrantForm, formdata)
    form.organisation_id.choices = [("", "Choose"), *lookups.organisation_menu(record.organisation_id if record else None)]
    return form


def _grant_posted(record: Grant) -> dict[str, list[str]]:
    return {
        "organisation_id": [str(record.organisation_id)],
        "program": [record.program],
        "amount": [f"{record.amount:.2f}"],
        "start_date": [record.start_date.isoformat()],
        "end_date": [record.end_date.isoformat()],
        "status": [record.status.value],
        "report_dates": ["\n".join(report.due_on.isoformat() for report in record.reports)],
        "notes": [record.notes or ""],
    }


def _grant_key(data: dict) -> tuple:
    return (data["organisation_id"], data["program"].casefold(), data["start_date"])


def _find_grant(key: tuple) -> Grant | None:
    organisation_id, program, start = key
    # The program is compared in Python, as the key was made: SQL's lower() is not casefold()
    # ("Straße"), and SQLite's leaves every letter beyond ASCII as it is ("ÉVEIL").
    grants = db.session.scalars(
        select(Grant).where(Grant.organisation_id == organisation_id, Grant.start_date == start).order_by(Grant.id)
    )
    return next((grant for grant in grants if grant.program.casefold() == program), None)


GRANTS = Kind(
    name="grants",
    label="Grants",
    model=Grant,
    fields=(
        EXTERNAL_ID,
        ImportField("organisation_id", "Organisation (its name)", as_organisation, also=("organisation", "organization", "grantee", "organisation name", "organization name")),
        ImportField("program", "Program", also=("programme", "program name", "project")),
        ImportField("amount", "Amount", as_money, also=("amount ($)", "award", "grant amount", "amount usd")),
        ImportField("start_date", "Start date", as_date, also=("start", "begins", "from")),
        ImportField("end_date", "End date", as_date, also=("end", "ends", "to")),
        ImportField("status", "Status", as_choice(GrantStatus)),
        ImportField("report_dates", "Report due dates", as_dates, also=("reports due", "report dates", "reports", "report due")),
        ImportField("notes", "Notes"),
    ),
    required=("organisation_id", "program", "amount", "start_date", "end_date"),
    form=_grant_form,
    posted=_grant_posted,
    defaults={"status": [GrantStatus.ACTIVE.value]},
    natural_key=_grant_key,
    find=_find_grant,
    stage=lambda record, data, _actor: grants.stage(record, data),
    describe=lambda data: f"{data['program']} ({data['start_date'].isoformat()})",
    key_words="the same organisation, program and start date",
    fingerprint_extra=lambda record: [report.due_on for report in record.reports],
)


# Interactions ------------------------------------------------------------------------------


def _interaction_form(formdata: MultiDict, record: Interaction | None, lookups: Lookups) -> CrmForm:
    form = _form(InteractionForm, formdata, interaction=record)
    form.organisation_id.choices = [("", "None"), *lookups.organisation_menu(record.organisation_id if record else None)]
    return form


def _interaction_posted(record: Interaction) -> dict[str, list[str]]:
    day, at = timezones.local_parts(record.occurred_at)
    return {
        "kind": [record.kind.value],
        "occurred_on": [day.isoformat()],
        "occurred_time": [at.strftime("%H:%M")],
        "summary": [record.summary],
        "organisation_id": [str(record.organisation_id) if record.organisation_id else ""],
        "contacts": [str(contact.id) for contact in record.contacts],
        "follow_up_on": [record.follow_up_on.isoformat() if record.follow_up_on else ""],
    }


def _interaction_key(data: dict) -> tuple:
    return (
        timezones.local_to_utc(data["occurred_on"], data["occurred_time"]),
        data.get("organisation_id"),
        data["summary"],
    )


def _find_interaction(key: tuple) -> Interaction | None:
    occurred_at, organisation_id, summary = key
    return db.session.scalar(
        select(Interaction)
        .where(
            Interaction.occurred_at == occurred_at,
            Interaction.organisation_id.is_(None) if organisation_id is None else Interaction.organisation_id == organisation_id,
            Interaction.summary == summary,
        )
        .order_by(Interaction.id)
        .limit(1)
    )


def _describe_interaction(data: dict) -> str:
    summary = data["summary"]
    return f"{data['occurred_on'].isoformat()}: {summary[:60]}{'…' if len(summary) > 60 else ''}"


INTERACTIONS = Kind(
    name="interactions",
    label="Interactions",
    model=Interaction,
    fields=(
        EXTERNAL_ID,
        ImportField("kind", "Type", as_choice(InteractionKind), also=("type", "kind")),
        ImportField("occurred_on", "Date", as_date, also=("date", "when", "occurred on", "day"), time_field="occurred_time"),
        ImportField("occurred_time", "Time", as_time, also=("time",)),
        ImportField("summary", "Summary", also=("notes", "description", "what happened")),
        ImportField("organisation_id", "Organisation (its name)", as_organisation, also=("organisation", "organization", "organisation name", "organization name")),
        ImportField("contacts", "Contacts (their emails)", as_contact_emails, also=("contacts", "contact emails", "contact email", "emails", "email")),
        ImportField("follow_up_on", "Follow up on", as_date, also=("follow up", "follow-up", "follow up date", "follow-up date")),
    ),
    required=("kind", "occurred_on", "summary"),
    form=_interaction_form,
    posted=_interaction_posted,
    defaults={"occurred_time": [DEFAULT_TIME]},
    natural_key=_interaction_key,
    find=_find_interaction,
    stage=lambda record, data, actor: interactions.stage(record, data, actor),
    describe=_describe_interaction,
    key_words="the same date, time, organisation and summary",
)


KINDS: dict[str, Kind] = {kind.name: kind for kind in (ORGANISATIONS, CONTACTS, GRANTS, INTERACTIONS)}
