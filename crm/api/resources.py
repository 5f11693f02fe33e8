"""The API's records: how each is shown as JSON, and how a body creates or changes one
through the web form's validation and the feature's own service (the same rules, the same
audit trail).

Each write builds the values the edit form would show (for a PATCH, the record's own, with
the body's fields laid over them), posts them to the form, and saves the form's data with
the service the web page calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.orm import selectinload

from crm.api import schemas
from crm.api.bodies import Invalid, form_errors, formdata
from crm.auth.permissions import Access, is_staff
from crm.contacts import services as contact_services
from crm.contacts.forms import ContactForm
from crm.contacts.routes import DUPLICATE_EMAIL
from crm.forms import with_empty_choice
from crm.grants import services as grant_services
from crm.grants.forms import GrantForm
from crm.grants.routes import REPORT_DATES_CHANGED
from crm.inquiries.queries import visible_to
from crm.interactions import services as interaction_services
from crm.interactions.forms import InteractionForm
from crm.models import Contact, Grant, Inquiry, Interaction, Organisation, User
from crm.organisation_menu import organisation_choices
from crm.organisations import services as organisation_services
from crm.organisations.forms import OrganisationForm
from crm.organisations.routes import BACKUP_NOT_ALLOWED
from crm.timezones import local_time

NO_CSRF = {"csrf": False}  # a token authenticates the request; there is no cookie to forge with


def with_list_defaults(form_class: type, values: dict[str, Any]) -> dict[str, Any]:
    """A new record's values with the form's preset lists (a contact answers in English) for
    the lists left out. Posted forms send a ticked box, so a list missing from a post means
    none ticked; a body leaving a field out means "as the form starts"."""
    blank = form_class(formdata=None, meta=NO_CSRF)
    presets = {name: list(field.data) for name, field in blank._fields.items() if isinstance(field.data, list) and field.data}
    return {**{name: preset for name, preset in presets.items() if name not in values}, **values}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _timestamps(record: Any) -> dict[str, str | None]:
    return {"created_at": _iso(record.created_at), "updated_at": _iso(record.updated_at)}


# --- organisations -------------------------------------------------------------------------


def organisation_json(organisation: Organisation) -> dict[str, Any]:
    return {
        "id": organisation.id,
        **organisation_values(organisation),
        "status": organisation.status.value,
        **_timestamps(organisation),
    }


def organisation_values(organisation: Organisation) -> dict[str, Any]:
    return {
        "name": organisation.name,
        "kind": organisation.kind.value,
        "description": organisation.description,
        "description_es": organisation.description_es,
        "website": organisation.website,
        "email": organisation.email,
        "phone": organisation.phone,
        "address_line": organisation.address_line,
        "city": organisation.city,
        "state": organisation.state,
        "postal_code": organisation.postal_code,
        "regions": [region.id for region in organisation.regions],
        "counties": [county.fips for county in organisation.counties],
        "backup_contact_id": organisation.backup_contact_id,
    }


def save_organisation(organisation: Organisation | None, values: dict[str, Any], actor: User) -> Organisation:
    record = organisation or Organisation()
    form = OrganisationForm(formdata=formdata(values), meta=NO_CSRF)
    form.regions.choices = organisation_services.region_choices()
    form.counties.choices = organisation_services.county_choices()
    form.backup_contact_id.choices = with_empty_choice("No backup", organisation_services.backup_choices(organisation))
    if not form.validate():
        raise Invalid(form_errors(form))
    try:
        return organisation_services.save(record, form.data, actor)
    except organisation_services.DuplicateName:
        raise Invalid({"name": ["An organisation with this name already exists."]}, 409) from None
    except organisation_services.BackupNotAllowed:
        raise Invalid({"backup_contact_id": [BACKUP_NOT_ALLOWED]}) from None


def visible_organisations(user: Any) -> Select:
    query = (
        select(Organisation)
        .options(selectinload(Organisation.regions), selectinload(Organisation.counties))
        .where(Organisation.merged_into_id.is_(None))
    )
    if is_staff(user):
        return query
    # A partner sees their own organisation, as on the web pages (can_see_organisation).
    if user.organisation_id is None:
        return query.where(false())
    return query.where(Organisation.id == user.organisation_id)


# --- contacts ----------------------------------------------------------------------------


def contact_json(contact: Contact) -> dict[str, Any]:
    return {"id": contact.id, **contact_values(contact), "active": contact.active, **_timestamps(contact)}


def contact_values(contact: Contact) -> dict[str, Any]:
    first, last = contact_services.away_days(contact)
    return {
        "name": contact.name,
        "organisation_id": contact.organisation_id,
        "title": contact.title,
        "email": contact.email,
        "phone": contact.phone,
        "notes": contact.notes,
        "roles": list(contact.roles or []),
        "show_on_public_page": contact.show_on_public_page,
        "accepts_inquiries": contact.accepts_inquiries,
        "languages": list(contact.languages or []),
        "away_from": _iso(first),
        "away_until": _iso(last),
        "away_note": contact.away_note,
        "topics": [topic.id for topic in contact.topics],
    }


def save_contact(contact: Contact | None, values: dict[str, Any], actor: User) -> Contact:
    if contact is None:
        values = with_list_defaults(ContactForm, values)
    form = ContactForm(formdata=formdata(values), meta=NO_CSRF)
    form.organisation_id.choices = with_empty_choice(
        "No organisation", organisation_choices(contact.organisation_id if contact else None)
    )
    form.topics.choices = contact_services.topic_choices(contact)
    if not form.validate():
        raise Invalid(form_errors(form))
    try:
        return contact_services.save(contact or Contact(), form.data, actor)
    except contact_services.DuplicateEmail:
        raise Invalid({"email": [DUPLICATE_EMAIL]}, 409) from None


def visible_contacts(_user: Any) -> Select:
    return select(Contact).options(selectinload(Contact.topics)).where(Contact.merged_into_id.is_(None))


# --- grants ------------------------------------------------------------------------------


def grant_json(grant: Grant) -> dict[str, Any]:
    values = grant_values(grant)
    del values["report_dates"]
    return {
        "id": grant.id,
        **values,
        "reports": [
            {"id": report.id, "due_on": _iso(report.due_on), "received_on": _iso(report.received_on)}
            for report in grant.reports
        ],
        **_timestamps(grant),
    }


def grant_values(grant: Grant) -> dict[str, Any]:
    return {
        "organisation_id": grant.organisation_id,
        "program": grant.program,
        "amount": f"{grant.amount:.2f}",
        "start_date": _iso(grant.start_date),
        "end_date": _iso(grant.end_date),
        "status": grant.status.value,
        "notes": grant.notes,
        "report_dates": [_iso(report.due_on) for report in grant.reports],
    }


def save_grant(grant: Grant | None, values: dict[str, Any], actor: User) -> Grant:
    # The form takes the schedule as it is typed: one date per line.
    posted = {**values, "report_dates": "\n".join(str(day) for day in values.get("report_dates") or [])}
    form = GrantForm(formdata=formdata(posted), meta=NO_CSRF)
    form.organisation_id.choices = with_empty_choice(
        "Choose an organisation", organisation_choices(grant.organisation_id if grant else None)
    )
    if not form.validate():
        raise Invalid(form_errors(form))
    try:
        return grant_services.save(grant or Grant(), form.data, actor)
    except grant_services.ReportDatesChangedMeanwhile:
        raise Invalid({"report_dates": [REPORT_DATES_CHANGED]}, 409) from None


def visible_grants(_user: Any) -> Select:
    return select(Grant).options(selectinload(Grant.reports))


# --- interactions ------------------------------------------------------------------------

OCCURRED_AT_HINT = "Give the date and time with a time-zone offset, like 2026-03-02T14:30:00-06:00."


def interaction_json(interaction: Interaction) -> dict[str, Any]:
    return {
        "id": interaction.id,
        **interaction_values(interaction),
        "follow_up_done": interaction.follow_up_done,
        "logged_by_id": interaction.logged_by_id,
        **_timestamps(interaction),
    }


def interaction_values(interaction: Interaction) -> dict[str, Any]:
    return {
        "kind": interaction.kind.value,
        "occurred_at": _iso(interaction.occurred_at),
        "summary": interaction.summary,
        "organisation_id": interaction.organisation_id,
        "contacts": [contact.id for contact in interaction.contacts],
        "follow_up_on": _iso(interaction.follow_up_on),
    }


def _local_moment(occurred_at: Any) -> datetime:
    """An instant with an offset, in the display timezone."""
    try:
        moment = datetime.fromisoformat(str(occurred_at))
        if moment.tzinfo is None:
            raise ValueError
        return local_time(moment)
    except (ValueError, OverflowError):
        raise Invalid({"occurred_at": [OCCURRED_AT_HINT]}) from None


def save_interaction(interaction: Interaction | None, values: dict[str, Any], actor: User) -> Interaction:
    local = _local_moment(values.get("occurred_at"))
    posted = {key: value for key, value in values.items() if key != "occurred_at"}
    posted["occurred_on"], posted["occurred_time"] = local.date().isoformat(), local.strftime("%H:%M:%S")
    form = InteractionForm(formdata=formdata(posted), meta=NO_CSRF, interaction=interaction)
    form.organisation_id.choices = with_empty_choice("No organisation", organisation_choices(active_only=False))
    form.contacts.choices = []  # checked against the organisation by the form itself
    if not form.validate():
        raise Invalid(form_errors(form, renamed={"occurred_on": "occurred_at", "occurred_time": "occurred_at"}))
    data = form.data
    # The hour the clocks go back happens twice; the typed time cannot tell which, the offset
    # sent can: fold=1 is the second time round, which the service's conversion then keeps.
    data["occurred_time"] = data["occurred_time"].replace(fold=local.fold)
    return interaction_services.save(interaction or Interaction(), data, actor)


def visible_interactions(_user: Any) -> Select:
    return select(Interaction).options(selectinload(Interaction.contacts))


# --- inquiries ---------------------------------------------------------------------------


def inquiry_json(inquiry: Inquiry) -> dict[str, Any]:
    return {
        "id": inquiry.id,
        "reference": inquiry.reference,
        "received_at": _iso(inquiry.received_at),
        "source": inquiry.source.value,
        "status": inquiry.status.value,
        "name": inquiry.name,
        "email": inquiry.email,
        "phone": inquiry.phone,
        "zip_code": inquiry.zip_code,
        "state": inquiry.state,
        "county_fips": inquiry.county_fips,
        "topic_id": inquiry.topic_id,
        "language": inquiry.language,
        "message": inquiry.message,
        "consent": inquiry.consent,
        "organisation_id": inquiry.organisation_id,
        "assigned_contact_id": inquiry.assigned_contact_id,
        "due_at": _iso(inquiry.due_at),
        "first_response_at": _iso(inquiry.first_response_at),
        "closed_at": _iso(inquiry.closed_at),
    }


def visible_inquiries(user: Any) -> Select:
    return select(Inquiry).where(visible_to(user))


# --- the table the routes and the document are built from --------------------------------


@dataclass(frozen=True)
class Resource:
    name: str  # the path segment: /api/v1/<name>
    singular: str
    model: type
    schema: schemas.Schema
    new_schema: schemas.Schema | None  # None: read-only
    to_json: Callable[[Any], dict[str, Any]]
    visible: Callable[[Any], Select]
    read_access: Access  # who may list and read, as on the web pages
    values: Callable[[Any], dict[str, Any]] | None = None
    save: Callable[[Any, dict[str, Any], User], Any] | None = None
    write_access: Access = Access.STAFF

    @property
    def schema_name(self) -> str:
        return self.singular.capitalize()

    @property
    def new_schema_name(self) -> str:
        return "New" + self.schema_name

    @property
    def changes_schema_name(self) -> str:
        return self.schema_name + "Changes"

    @property
    def writable(self) -> bool:
        return self.new_schema is not None


RESOURCES: tuple[Resource, ...] = (
    Resource(
        "organisations", "organisation", Organisation, schemas.ORGANISATION, schemas.NEW_ORGANISATION,
        organisation_json, visible_organisations, Access.SIGNED_IN, organisation_values, save_organisation,
    ),
    Resource(
        "contacts", "contact", Contact, schemas.CONTACT, schemas.NEW_CONTACT,
        contact_json, visible_contacts, Access.STAFF, contact_values, save_contact,
    ),
    Resource(
        "grants", "grant", Grant, schemas.GRANT, schemas.NEW_GRANT,
        grant_json, visible_grants, Access.STAFF, grant_values, save_grant,
    ),
    Resource(
        "interactions", "interaction", Interaction, schemas.INTERACTION, schemas.NEW_INTERACTION,
        interaction_json, visible_interactions, Access.STAFF, interaction_values, save_interaction,
    ),
    Resource("inquiries", "inquiry", Inquiry, schemas.INQUIRY, None, inquiry_json, visible_inquiries, Access.SIGNED_IN),
)
RESOURCES_BY_NAME = {resource.name: resource for resource in RESOURCES}
