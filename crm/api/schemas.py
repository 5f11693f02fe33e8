"""The JSON shapes of the API's records, as JSON Schema (the dialect of OpenAPI 3.1).

One source for three uses: the OpenAPI document (crm.api.openapi) publishes them, request
bodies are checked against the input schemas before the forms see them (crm.api.bodies), and
the tests check every response against the output schemas. Enumerations are read from the
models' own enums, so a new kind or status appears here the day it is added.
"""

from __future__ import annotations

import enum
from typing import Any

from crm.languages import CODES
from crm.models import ContactRole, GrantStatus, InquirySource, InteractionKind, OrganisationKind, RecordStatus, Role
from crm.models.inquiry_status import InquiryStatus

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
ID: Schema = {"type": "integer", "minimum": 1}
IDS: Schema = {"type": "array", "items": ID}
OPTIONAL_ID: Schema = {"type": ["integer", "null"], "minimum": 1}
DATE: Schema = {"type": "string", "format": "date"}
OPTIONAL_DATE: Schema = {"type": ["string", "null"], "format": "date"}
DATE_TIME: Schema = {"type": "string", "format": "date-time"}
OPTIONAL_DATE_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
OPTIONAL_STRING: Schema = {"type": ["string", "null"]}


def one_of(values: type[enum.Enum] | tuple[str, ...]) -> Schema:
    members = [member.value for member in values] if isinstance(values, type) else list(values)
    return {"type": "string", "enum": members}


def list_of(values: type[enum.Enum] | tuple[str, ...]) -> Schema:
    return {"type": "array", "items": one_of(values)}


def record(properties: dict[str, Schema], description: str) -> Schema:
    """A record as the API returns it: every property present."""
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def body(properties: dict[str, Schema], required: list[str], description: str) -> Schema:
    """A request body: unknown fields are refused, so a misspelt one is not silently ignored."""
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def without_required(schema: Schema) -> Schema:
    """The body of a PATCH: any of the fields, the rest kept as they are."""
    return {**schema, "required": [], "description": schema["description"] + " Fields left out keep their values."}


TIMESTAMPS = {"created_at": DATE_TIME, "updated_at": DATE_TIME}

# --- organisations -------------------------------------------------------------------------

ORGANISATION_FIELDS: dict[str, Schema] = {
    "name": STRING,
    "kind": one_of(OrganisationKind),
    "description": STRING,
    "description_es": {**STRING, "description": "The description in Spanish, for the public pages shown in Spanish."},
    "website": STRING,
    "email": STRING,
    "phone": STRING,
    "address_line": STRING,
    "city": STRING,
    "state": {**STRING, "description": "Two-letter state code, e.g. MO."},
    "postal_code": STRING,
    "regions": {**IDS, "description": "Ids of the regions served."},
    "counties": {"type": "array", "items": STRING, "description": "FIPS codes of the counties served."},
    "backup_contact_id": {
        **OPTIONAL_ID,
        "description": "One of this organisation's active contacts who take inquiries.",
    },
}
ORGANISATION = record(
    {"id": ID, **ORGANISATION_FIELDS, "status": one_of(RecordStatus), **TIMESTAMPS}, "An organisation."
)
NEW_ORGANISATION = body(ORGANISATION_FIELDS, ["name"], "A new organisation.")

# --- contacts ----------------------------------------------------------------------------

CONTACT_FIELDS: dict[str, Schema] = {
    "name": STRING,
    "organisation_id": OPTIONAL_ID,
    "title": STRING,
    "email": STRING,
    "phone": STRING,
    "notes": STRING,
    "roles": list_of(ContactRole),
    "show_on_public_page": BOOLEAN,
    "accepts_inquiries": {**BOOLEAN, "description": "Whether public inquiries may be routed to this person."},
    "languages": {**list_of(CODES), "description": "Languages answered in; at least one."},
    "away_from": {**OPTIONAL_DATE, "description": "The first day away."},
    "away_until": {**OPTIONAL_DATE, "description": "The last day away; null: until further notice."},
    "away_note": STRING,
    "topics": {**IDS, "description": "Ids of the topics handled; none: every topic."},
}
CONTACT = record({"id": ID, **CONTACT_FIELDS, "active": BOOLEAN, **TIMESTAMPS}, "A contact: a person at an organisation, or on their own.")
NEW_CONTACT = body(CONTACT_FIELDS, ["name"], "A new contact.")

# --- grants ------------------------------------------------------------------------------

GRANT_REPORT = record({"id": ID, "due_on": DATE, "received_on": OPTIONAL_DATE}, "A report the grantee owes.")
GRANT_FIELDS: dict[str, Schema] = {
    "organisation_id": ID,
    "program": STRING,
    "amount": {
        "type": ["string", "number"],
        "description": "Dollars and cents, e.g. \"25000\" or \"25,000.50\"; returned as a string with two decimals.",
    },
    "start_date": DATE,
    "end_date": DATE,
    "status": one_of(GrantStatus),
    "notes": STRING,
}
GRANT_INPUT_FIELDS = {
    **GRANT_FIELDS,
    "report_dates": {
        "type": "array",
        "items": DATE,
        "description": "The report schedule: each date on or after the start, at most a year after the end.",
    },
}
GRANT = record(
    {
        "id": ID,
        **GRANT_FIELDS,
        "amount": {"type": "string", "description": "Dollars and cents, two decimals."},
        "reports": {"type": "array", "items": GRANT_REPORT},
        **TIMESTAMPS,
    },
    "A grant, with its report schedule.",
)
NEW_GRANT = body(GRANT_INPUT_FIELDS, ["organisation_id", "program", "amount", "start_date", "end_date"], "A new grant.")

# --- interactions ------------------------------------------------------------------------

INTERACTION_FIELDS: dict[str, Schema] = {
    "kind": one_of(InteractionKind),
    "occurred_at": {**DATE_TIME, "description": "When it happened, with a time-zone offset; kept to the second."},
    "summary": STRING,
    "organisation_id": OPTIONAL_ID,
    "contacts": {**IDS, "description": "Ids of the contacts involved: active contacts of the organisation."},
    "follow_up_on": OPTIONAL_DATE,
}
INTERACTION = record(
    {"id": ID, **INTERACTION_FIELDS, "follow_up_done": BOOLEAN, "logged_by_id": OPTIONAL_ID, **TIMESTAMPS},
    "A call, meeting, email, site visit or note.",
)
NEW_INTERACTION = body(INTERACTION_FIELDS, ["kind", "occurred_at", "summary"], "A new interaction.")

# --- inquiries ---------------------------------------------------------------------------

INQUIRY = record(
    {
        "id": ID,
        "reference": STRING,
        "received_at": DATE_TIME,
        "source": one_of(InquirySource),
        "status": one_of(InquiryStatus),
        "name": STRING,
        "email": STRING,
        "phone": STRING,
        "zip_code": STRING,
        "state": STRING,
        "county_fips": OPTIONAL_STRING,
        "topic_id": OPTIONAL_ID,
        "language": one_of(CODES),
        "message": STRING,
        "consent": BOOLEAN,
        "organisation_id": OPTIONAL_ID,
        "assigned_contact_id": OPTIONAL_ID,
        "due_at": OPTIONAL_DATE_TIME,
        "first_response_at": OPTIONAL_DATE_TIME,
        "closed_at": OPTIONAL_DATE_TIME,
    },
    "A request to be put in touch. Partners see those routed to their organisation.",
)
INQUIRY_SUBMISSION = body(
    {
        "name": STRING,
        "email": STRING,
        "phone": STRING,
        "zip_code": {**STRING, "description": "Five digits or ZIP+4; it decides which partner answers."},
        "topic_id": {**ID, "description": "One of the active topics of the Get in Touch form."},
        "language": {**one_of(CODES), "description": "The language to answer in."},
        "message": STRING,
        "consent": {**BOOLEAN, "description": "Must be true: the sender agrees to be contacted about this message."},
        "website": {**STRING, "description": "Your form's hidden honeypot field, if it has one: filled in by bots only."},
        "form_seconds": {
            "type": "number",
            "minimum": 0,
            "description": (
                "How many seconds your visitor's form was open before it was sent, if your site measures it: "
                "a message sent sooner than people can write one is kept as spam, as the Get in Touch form's is."
            ),
        },
    },
    ["name", "email", "zip_code", "topic_id", "message", "consent"],
    "An inquiry sent from another site, checked and routed as the Get in Touch form's.",
)
SUBMITTED = record(
    {"reference": STRING, "organisation": {**STRING, "description": "Who will answer."}},
    "What to tell the sender.",
)

ME = record(
    {
        "id": ID,
        "name": STRING,
        "email": STRING,
        "role": one_of(Role),
        "organisation_id": OPTIONAL_ID,
        "token_scope": {"type": "string", "enum": ["read", "write"]},
    },
    "The user a token acts as.",
)

PROBLEM = {
    "type": "object",
    "description": "An error (RFC 9457); 'errors' names the fields at fault.",
    "properties": {
        "type": STRING,
        "title": STRING,
        "status": INTEGER,
        "detail": STRING,
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": STRING}},
    },
    "required": ["type", "title", "status", "detail"],
}


def page_of(item_ref: str) -> Schema:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": item_ref}},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as ?cursor= for the next page; null on the last page.",
            },
        },
        "required": ["items", "next_cursor"],
        "additionalProperties": False,
    }
