from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    CheckConstraint,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    and_,
    column,
    event,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import UTCDateTime, enum_column, one_of, utcnow
from crm.extensions import db
from crm.languages import CODES, language_name
from crm.models.inquiry_status import OPEN_STATUS_ORDER, InquiryStatus
from crm.schema import postgresql_only

if TYPE_CHECKING:
    from crm.models.contact import Contact
    from crm.models.geography import County
    from crm.models.organisation import Organisation
    from crm.models.routing import RoutingRule, Topic
    from crm.models.user import User


class InquirySource(enum.StrEnum):
    WEB = "web"
    PHONE = "phone"
    EMAIL = "email"
    LETTER = "letter"
    IN_PERSON = "in_person"

    @property
    def label(self) -> str:
        return {"web": "Web form", "phone": "Phone", "email": "Email", "letter": "Letter", "in_person": "In person"}[
            self.value
        ]

    @property
    def arrival(self) -> str:
        """How it came in, to follow "came in": "by phone", "through the Get in Touch form"."""
        return {
            "web": "through the Get in Touch form",
            "phone": "by phone",
            "email": "by email",
            "letter": "by letter",
            "in_person": "in person",
        }[self.value]


class InquiryOutcome(enum.StrEnum):
    """What came of an inquiry, recorded when it is closed (crm.inquiries.outcomes has the rules)."""

    CONNECTED = "connected"
    REFERRED = "referred"
    UNREACHABLE = "unreachable"
    NOT_NEEDED = "not_needed"
    OUT_OF_AREA = "out_of_area"
    OTHER = "other"

    @property
    def label(self) -> str:
        return _OUTCOME_LABELS[self]


_OUTCOME_LABELS: dict[InquiryOutcome, str] = {
    InquiryOutcome.CONNECTED: "Connected to a service",
    InquiryOutcome.REFERRED: "Referred elsewhere",
    InquiryOutcome.UNREACHABLE: "Could not reach after attempts",
    InquiryOutcome.NOT_NEEDED: "No longer needed",
    InquiryOutcome.OUT_OF_AREA: "Out of area",
    InquiryOutcome.OTHER: "Other",
}


# Conditions of partial indexes, written as open_clause and awaiting_response_clause (below)
# write them for every query, so that the planner can tell an index holds every row a query wants.
_OPEN = column("status").in_([status.value for status in OPEN_STATUS_ORDER])
_AWAITING_RESPONSE = and_(_OPEN, column("first_response_at").is_(None))
_ANSWERED_WITHOUT_HOURS = and_(column("first_response_at").is_not(None), column("first_response_hours").is_(None))


class Inquiry(db.Model):
    """A request to be put in touch, from the public form or logged by staff."""

    __tablename__ = "inquiries"
    __table_args__ = (
        # ck_inquiries_language: an inquiry is written in a language the app can answer in.
        CheckConstraint(one_of("language", CODES), name="language"),
        # ck_inquiries_closed_outcome: every close records what came of it.
        CheckConstraint("status <> 'closed' OR outcome IS NOT NULL", name="closed_outcome"),
        # The inbox pages by (received_at, id) within the filters staff use most.
        Index("ix_inquiries_received", "received_at", "id"),
        Index("ix_inquiries_status_received", "status", "received_at", "id"),
        Index("ix_inquiries_org_received", "organisation_id", "received_at", "id"),
        # A partner's county and region menus: the counties of their inquiries, from the index alone.
        Index("ix_inquiries_org_county", "organisation_id", "county_fips"),
        # A partner's inbox, and staff filtering by organisation, look at open work: a few
        # hundred rows of an organisation's tens of thousands.
        Index(
            "ix_inquiries_open_org",
            "organisation_id",
            "received_at",
            "id",
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        ),
        # The overdue filter looks among open inquiries still without a first response: a few
        # thousand rows, newest first, where the plain received_at order meets closed ones.
        Index(
            "ix_inquiries_awaiting_response",
            "received_at",
            "id",
            postgresql_where=_AWAITING_RESPONSE,
            sqlite_where=_AWAITING_RESPONSE,
        ),
        Index("ix_inquiries_assignee_status", "assigned_contact_id", "status"),
        Index("ix_inquiries_assignee_received", "assigned_contact_id", "received_at", "id"),
        Index("ix_inquiries_org_due", "organisation_id", "due_at", "id"),
        Index("ix_inquiries_due", "due_at", "id"),
        Index("ix_inquiries_dedupe", "dedupe_key", "received_at"),
        # Reports read a period's rows from the index alone on PostgreSQL.
        Index(
            "ix_inquiries_report",
            "received_at",
            postgresql_include=[
                "status",
                "first_response_at",
                "first_response_hours",
                "topic_id",
                "county_fips",
                "language",
                "organisation_id",
            ],
        ),
        # ...and the few answered inquiries whose business hours were not stored (written by
        # other means than the app), which a report measures itself: normally none at all.
        Index(
            "ix_inquiries_unmeasured_response",
            "received_at",
            postgresql_where=_ANSWERED_WITHOUT_HOURS,
            sqlite_where=_ANSWERED_WITHOUT_HOURS,
        ),
        Index(
            "ix_inquiries_open_load",
            "status",
            "assigned_contact_id",
            postgresql_include=["first_response_at", "due_at"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[InquirySource] = mapped_column(enum_column(InquirySource, "source"), default=InquirySource.WEB)

    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), default="", index=True)
    phone: Mapped[str] = mapped_column(String(40), default="")
    zip_code: Mapped[str] = mapped_column(String(10), default="")
    state: Mapped[str] = mapped_column(String(2), default="")
    county_fips: Mapped[str | None] = mapped_column(ForeignKey("counties.fips"), index=True)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"), index=True)
    language: Mapped[str] = mapped_column(String(5), default="en", index=True)
    message: Mapped[str] = mapped_column(Text)
    consent: Mapped[bool] = mapped_column(Boolean, default=False)

    status: Mapped[InquiryStatus] = mapped_column(enum_column(InquiryStatus, "status"), default=InquiryStatus.NEW)
    spam_reason: Mapped[str] = mapped_column(String(200), default="")
    # Hash of the requester's email and message: the same request twice in ten minutes is one inquiry.
    dedupe_key: Mapped[str] = mapped_column(String(64), default="")

    routing_rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("routing_rules.id", ondelete="SET NULL"), index=True
    )
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    assigned_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    routing_reason: Mapped[str] = mapped_column(Text, default="")
    routed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Business hours from receipt to the first response, fixed when that response is logged,
    # so reports over many thousands of inquiries need not run the business clock per row.
    first_response_hours: Mapped[float | None] = mapped_column(Float)
    # When it was last closed, and what came of it. Reopening keeps them (the timeline holds
    # every close); closing again overwrites them.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[InquiryOutcome | None] = mapped_column(enum_column(InquiryOutcome, "outcome"))
    outcome_detail: Mapped[str] = mapped_column(Text, default="")
    outcome_organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requester_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    logged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    topic: Mapped[Topic | None] = relationship()
    county: Mapped[County | None] = relationship()
    routing_rule: Mapped[RoutingRule | None] = relationship()
    organisation: Mapped[Organisation | None] = relationship(foreign_keys=[organisation_id])
    outcome_organisation: Mapped[Organisation | None] = relationship(foreign_keys=[outcome_organisation_id])
    assigned_contact: Mapped[Contact | None] = relationship(foreign_keys=[assigned_contact_id])
    requester_contact: Mapped[Contact | None] = relationship(foreign_keys=[requester_contact_id])
    logged_by: Mapped[User | None] = relationship()
    events: Mapped[list[InquiryEvent]] = relationship(
        back_populates="inquiry", order_by="InquiryEvent.occurred_at, InquiryEvent.id", cascade="all, delete-orphan"
    )

    @property
    def is_spam(self) -> bool:
        return self.status is InquiryStatus.SPAM

    @property
    def language_name(self) -> str:
        return language_name(self.language)

    def __str__(self) -> str:
        return self.reference


# Which inquiries are open, awaiting their first response or overdue, in SQL. They need only
# this model, so every feature (the inbox, routing, reports, the response-time jobs) asks
# them here.


def open_clause() -> ColumnElement[bool]:
    """Open inquiries, in SQL; every query that asks for open inquiries should use it.

    The statuses are listed in the order of the partial indexes' conditions
    (``_OPEN`` above): PostgreSQL takes two lists for one condition only when their items
    come in the same order; a set's order changes from process to process, and a condition
    it sees twice it counts twice, which misleads the planner."""
    return Inquiry.status.in_(OPEN_STATUS_ORDER)


def awaiting_response_clause() -> ColumnElement[bool]:
    """Open inquiries still without a first response: the response-time clock is running."""
    return and_(open_clause(), Inquiry.first_response_at.is_(None))


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """SQL for business_hours.is_overdue on open inquiries: past due and still without a first response."""
    return and_(
        open_clause(),
        Inquiry.first_response_at.is_(None),
        Inquiry.due_at < now,
    )


# The inbox search finds a fragment anywhere in these columns, ignoring case.
SEARCHED_COLUMNS = (Inquiry.name, Inquiry.email, Inquiry.reference, Inquiry.message)


def searched_text(searched_column: Any) -> ColumnElement[str]:
    """A searched column as the search compares it; its trigram index holds the same expression,
    which is what lets PostgreSQL use the index."""
    return func.lower(searched_column)


# On PostgreSQL a trigram index per searched column finds a rare fragment ("%kowalczyk%")
# without reading every message; the planner still walks the received_at index for a common
# one. SQLite has no such index and reads the rows.
for _searched in SEARCHED_COLUMNS:
    postgresql_only(
        Index(
            f"ix_inquiries_search_{_searched.key}",
            searched_text(_searched).label("text"),
            postgresql_using="gin",
            postgresql_ops={"text": "public.gin_trgm_ops"},
        )
    )

# The trigram indexes need pg_trgm. The migration adds it and names its operator class
# wherever it is; create_all (tests, the bench) puts it in public, which a test's own schema
# does not have on its search_path, hence the schema in the operator class above.
event.listen(
    Inquiry.__table__,
    "before_create",
    DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public").execute_if(dialect="postgresql"),
)


class InquiryEventKind(enum.StrEnum):
    RECEIVED = "received"
    ROUTED = "routed"
    EMAIL_QUEUED = "email_queued"
    EMAIL_SENT = "email_sent"
    EMAIL_FAILED = "email_failed"
    VIEWED = "viewed"
    ASSIGNED = "assigned"
    STATUS_CHANGED = "status_changed"
    NOTE = "note"
    RESPONSE = "response"
    LINKED = "linked"
    REMINDER = "reminder"
    ESCALATED = "escalated"
    ANONYMISED = "anonymised"
    ATTEMPT = "attempt"

    @property
    def label(self) -> str:
        return _EVENT_LABELS[self]


# What the timeline calls each kind of event.
_EVENT_LABELS: dict[InquiryEventKind, str] = {
    InquiryEventKind.RECEIVED: "Received",
    InquiryEventKind.ROUTED: "Routed",
    InquiryEventKind.EMAIL_QUEUED: "Email queued",
    InquiryEventKind.EMAIL_SENT: "Email sent",
    InquiryEventKind.EMAIL_FAILED: "Email not delivered",
    InquiryEventKind.VIEWED: "Viewed",
    InquiryEventKind.ASSIGNED: "Assigned",
    InquiryEventKind.STATUS_CHANGED: "Status changed",
    InquiryEventKind.NOTE: "Internal note",
    InquiryEventKind.RESPONSE: "Response to the requester",
    InquiryEventKind.LINKED: "Linked to a contact",
    InquiryEventKind.REMINDER: "Deadline reminder",
    InquiryEventKind.ESCALATED: "Escalated: overdue",
    InquiryEventKind.ANONYMISED: "Personal details removed",
    InquiryEventKind.ATTEMPT: "Attempt to reach the requester",
}


class InquiryEvent(db.Model):
    """One line of an inquiry's timeline: what happened, who did it and when."""

    __tablename__ = "inquiry_events"
    __table_args__ = (Index("ix_inquiry_events_inquiry", "inquiry_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[InquiryEventKind] = mapped_column(enum_column(InquiryEventKind, "kind"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    inquiry: Mapped[Inquiry] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


def add_event(inquiry: Inquiry, kind: InquiryEventKind, **fields: Any) -> InquiryEvent:
    """Add a line to the inquiry's timeline. Set from the event's side: appending to
    ``inquiry.events`` would first load the whole timeline, and every view makes it longer."""
    event = InquiryEvent(inquiry=inquiry, kind=kind, **fields)
    db.session.add(event)
    return event
