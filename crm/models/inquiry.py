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
    bindparam,
    column,
    event,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import UTCDateTime, enum_column, one_of, utcnow
from crm.extensions import db
from crm.languages import CODES, language_name
from crm.models.contact_preference import ContactPreference
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
# What the response-time jobs (crm.inquiries.sla_jobs) still have to do: reminders go to the
# assigned contact, escalations to the managers. A handled inquiry leaves its index.
_REMINDER_PENDING = and_(
    _AWAITING_RESPONSE, column("reminder_sent_at").is_(None), column("assigned_contact_id").is_not(None)
)
_ESCALATION_PENDING = and_(_AWAITING_RESPONSE, column("escalated_at").is_(None))
_FOLLOW_UP_PENDING = and_(column("status") == "closed", column("follow_up_sent_at").is_(None))
_AWAITING_ACCEPTANCE = and_(column("accepted_at").is_(None), column("acceptance_due_at").is_not(None))
_ANSWERED_WITHOUT_HOURS = and_(column("first_response_at").is_not(None), column("first_response_hours").is_(None))
_ACCEPTED_WITHOUT_HOURS = and_(column("accepted_at").is_not(None), column("accepted_after_hours").is_(None))
# The acceptance job's moves whose managers' notice is not queued yet (crm.inquiries.acceptance_jobs).
_NOTICE_PENDING = and_(column("reason") == "not_accepted_in_time", column("managers_told_at").is_(None))

# What ix_inquiries_report holds beside received_at (migration 100d7478a5c4 widened it for the
# closed loop; tests/test_reports.py checks every period statement of the report finds its columns here).
REPORT_INCLUDE = (
    "status",
    "first_response_at",
    "first_response_hours",
    "topic_id",
    "county_fips",
    "language",
    "organisation_id",
    "id",
    "outcome",
    "assigned_contact_id",
    "accepted_at",
    "accepted_after_hours",
    "acceptance_due_at",
    "follow_up_sent_at",
    "family_answered_at",
    "family_confirmed",
)

# crm.models.contact_preference.missing_detail, kept by the database too: an inquiry says how
# the requester wants to be reached and holds what that needs. An anonymised inquiry has
# neither detail left; its preference stays for the counts. A call or a text (the values
# themselves are ck_inquiries_contact_preference's) needs a phone number.
REACHABLE = (
    "anonymised_at IS NOT NULL"
    " OR (contact_preference = 'email' AND email <> '')"
    " OR (contact_preference <> 'email' AND phone <> '')"
)


class Inquiry(db.Model):
    """A request to be put in touch, from the public form or logged by staff."""

    __tablename__ = "inquiries"
    __table_args__ = (
        CheckConstraint(REACHABLE, name="reachable"),
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
        Index("ix_inquiries_assignee_received", "assigned_contact_id", "received_at", "id"),
        Index("ix_inquiries_org_due", "organisation_id", "due_at", "id"),
        Index("ix_inquiries_due", "due_at", "id"),
        Index("ix_inquiries_dedupe", "dedupe_key", "received_at"),
        # Reports read a period's rows from the index alone on PostgreSQL: the counts, the
        # response figures and the closed loop (crm.reports.loop: acceptance, the window, the
        # outcome, the follow-up; the id joins the passes). REPORT_INCLUDE has the columns.
        Index("ix_inquiries_report", "received_at", postgresql_include=list(REPORT_INCLUDE)),
        # ...and the few answered inquiries whose business hours were not stored (written by
        # other means than the app), which a report measures itself: normally none at all.
        Index(
            "ix_inquiries_unmeasured_response",
            "received_at",
            postgresql_where=_ANSWERED_WITHOUT_HOURS,
            sqlite_where=_ANSWERED_WITHOUT_HOURS,
        ),
        # ...and the accepted ones whose business hours to acceptance were not stored (accepted
        # before they were, or written by other means than the app): normally none.
        Index(
            "ix_inquiries_unmeasured_acceptance",
            "received_at",
            postgresql_where=_ACCEPTED_WITHOUT_HOURS,
            sqlite_where=_ACCEPTED_WITHOUT_HOURS,
        ),
        # The response-time jobs read only the inquiries not yet reminded or escalated, by
        # deadline: a run reads the entries whose deadline has come, not every open inquiry.
        Index(
            "ix_inquiries_reminder_pending",
            "due_at",
            postgresql_where=_REMINDER_PENDING,
            sqlite_where=_REMINDER_PENDING,
        ),
        Index(
            "ix_inquiries_escalation_pending",
            "due_at",
            postgresql_where=_ESCALATION_PENDING,
            sqlite_where=_ESCALATION_PENDING,
        ),
        # The acceptance job looks only at inquiries still waiting to be accepted: a handful.
        Index(
            "ix_inquiries_acceptance_due",
            "acceptance_due_at",
            postgresql_where=_AWAITING_ACCEPTANCE,
            sqlite_where=_AWAITING_ACCEPTANCE,
        ),
        # ck_inquiries_family_answer: an answer is yes or no with the time it was given, and
        # only to a follow-up that was sent.
        CheckConstraint(
            "(family_confirmed IS NULL AND family_answered_at IS NULL)"
            " OR (family_confirmed IS NOT NULL AND family_answered_at IS NOT NULL AND follow_up_sent_at IS NOT NULL)",
            name="family_answer",
        ),
        # The follow-up job looks at closed inquiries not yet followed up, by when they closed.
        Index(
            "ix_inquiries_follow_up_due",
            "closed_at",
            postgresql_where=_FOLLOW_UP_PENDING,
            sqlite_where=_FOLLOW_UP_PENDING,
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
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    contact_preference: Mapped[ContactPreference] = mapped_column(
        enum_column(ContactPreference, "contact_preference"), default=ContactPreference.EMAIL, server_default=ContactPreference.EMAIL.value
    )
    zip_code: Mapped[str] = mapped_column(String(10), default="")
    state: Mapped[str] = mapped_column(String(2), default="")
    county_fips: Mapped[str | None] = mapped_column(ForeignKey("counties.fips"), index=True)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"), index=True)
    # ix_inquiries_language: the inbox export filtered by language (no LIMIT) ANDs it with the
    # status or county index on PostgreSQL rather than reading every open or county row.
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
    # The contact it is routed to accepts it, or passes it on (inquiry_passes). Until then it
    # is "awaiting acceptance" and, past acceptance_due_at, moves on by itself.
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    acceptance_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Business hours from receipt to acceptance, fixed when it is accepted (as
    # first_response_hours is), so that reports need not run the business clock per row.
    accepted_after_hours: Mapped[float | None] = mapped_column(Float)

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
    # The family's follow-up (crm.family): "Did you get the help you needed?" is sent once,
    # FOLLOW_UP_DAYS after the close, and answered at most once, yes (True) or no (False).
    follow_up_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    family_confirmed: Mapped[bool | None] = mapped_column(Boolean)
    family_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    topic: Mapped[Topic | None] = relationship()
    county: Mapped[County | None] = relationship()
    routing_rule: Mapped[RoutingRule | None] = relationship()
    organisation: Mapped[Organisation | None] = relationship(foreign_keys=[organisation_id])
    outcome_organisation: Mapped[Organisation | None] = relationship(foreign_keys=[outcome_organisation_id])
    assigned_contact: Mapped[Contact | None] = relationship(foreign_keys=[assigned_contact_id])
    requester_contact: Mapped[Contact | None] = relationship(foreign_keys=[requester_contact_id])
    logged_by: Mapped[User | None] = relationship(foreign_keys=[logged_by_id])
    accepted_by: Mapped[User | None] = relationship(foreign_keys=[accepted_by_id])
    events: Mapped[list[InquiryEvent]] = relationship(
        back_populates="inquiry", order_by="InquiryEvent.occurred_at, InquiryEvent.id", cascade="all, delete-orphan"
    )

    @property
    def is_spam(self) -> bool:
        return self.status is InquiryStatus.SPAM

    @property
    def awaiting_acceptance(self) -> bool:
        """Routed to a contact who has neither accepted it nor passed it on yet."""
        return self.status.is_open and self.assigned_contact_id is not None and self.accepted_at is None

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
    # The statuses are written into the statement rather than sent as parameters: the generic
    # plan of a prepared statement (PostgreSQL's, from its sixth run) knows no parameter, so
    # with the statuses sent it could neither use the partial indexes on open inquiries nor
    # tell how few rows are open, and PostgreSQL would rather plan every run afresh.
    statuses = bindparam(
        "open_statuses", list(OPEN_STATUS_ORDER), expanding=True, literal_execute=True, unique=True, type_=Inquiry.status.type
    )
    return Inquiry.status.in_(statuses)


def awaiting_response_clause() -> ColumnElement[bool]:
    """Open inquiries still without a first response: the response-time clock is running."""
    return and_(open_clause(), Inquiry.first_response_at.is_(None))


def reminder_pending_clause() -> ColumnElement[bool]:
    """Assigned inquiries awaiting their first response whose contact has not been reminded
    (the condition of ix_inquiries_reminder_pending, term for term)."""
    return and_(
        awaiting_response_clause(), Inquiry.reminder_sent_at.is_(None), Inquiry.assigned_contact_id.is_not(None)
    )


def escalation_pending_clause() -> ColumnElement[bool]:
    """Inquiries awaiting their first response not yet escalated (ix_inquiries_escalation_pending's condition)."""
    return and_(awaiting_response_clause(), Inquiry.escalated_at.is_(None))


def awaiting_acceptance_clause() -> ColumnElement[bool]:
    """Open inquiries routed to a contact who has not accepted them yet (Inquiry.awaiting_acceptance)."""
    return and_(open_clause(), Inquiry.assigned_contact_id.is_not(None), Inquiry.accepted_at.is_(None))


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
# A GIN index's pending list of new entries is merged into it by the insert that fills it:
# kept small, that insert (a family's post) is not held up long, and a search, which reads the
# whole list, stays quick (migration c4e8a2f6d1b9 has the figures).
SEARCH_PENDING_LIST_KB = 256
for _searched in SEARCHED_COLUMNS:
    postgresql_only(
        Index(
            f"ix_inquiries_search_{_searched.key}",
            searched_text(_searched).label("text"),
            postgresql_using="gin",
            postgresql_ops={"text": "public.gin_trgm_ops"},
            postgresql_with={"gin_pending_list_limit": SEARCH_PENDING_LIST_KB},
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
    FAMILY_CONFIRMED = "family_confirmed"
    FAMILY_NEEDS_HELP = "family_needs_help"
    ACCEPTED = "accepted"
    PASSED = "passed"

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
    InquiryEventKind.FAMILY_CONFIRMED: "Family confirmed they got help",
    InquiryEventKind.FAMILY_NEEDS_HELP: "Family still needs help",
    InquiryEventKind.ACCEPTED: "Accepted",
    InquiryEventKind.PASSED: "Passed on",
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


def event_row(
    inquiry_id: int,
    kind: InquiryEventKind,
    *,
    occurred_at: datetime,
    detail: str,
    actor_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A timeline line as values, for crm.audit.insert_rows: every line names the same
    columns, so that a new inquiry's lines go in one statement."""
    return {
        "inquiry_id": inquiry_id,
        "kind": kind,
        "occurred_at": occurred_at,
        "actor_id": actor_id,
        "detail": detail,
        "data": data or {},
    }


class PassReason(enum.StrEnum):
    """Why the contact an inquiry was routed to did not take it."""

    NOT_OUR_AREA = "not_our_area"
    NOT_A_SERVICE = "not_a_service"
    NO_CAPACITY = "no_capacity"
    LANGUAGE = "language"
    OTHER = "other"
    # Set by the acceptance job, never chosen by a person.
    NOT_ACCEPTED_IN_TIME = "not_accepted_in_time"

    @property
    def label(self) -> str:
        return _PASS_LABELS[self]


_PASS_LABELS: dict[PassReason, str] = {
    PassReason.NOT_OUR_AREA: "Not our area",
    PassReason.NOT_A_SERVICE: "Not a service we offer",
    PassReason.NO_CAPACITY: "No capacity",
    PassReason.LANGUAGE: "Language",
    PassReason.OTHER: "Other",
    PassReason.NOT_ACCEPTED_IN_TIME: "Not accepted in time",
}


class InquiryPass(db.Model):
    """A contact an inquiry was routed to passed it on (or let the acceptance window run out):
    routing never offers it to them again."""

    __tablename__ = "inquiry_passes"
    __table_args__ = (
        # "Other" says what: the note is where.
        CheckConstraint("reason <> 'other' OR note <> ''", name="other_has_note"),
        Index("ix_inquiry_passes_inquiry", "inquiry_id", "passed_at"),
        # The report reads the passes made since its period began (crm.reports.loop.passes_query),
        # from the index alone on PostgreSQL.
        Index("ix_inquiry_passes_passed_at", "passed_at", postgresql_include=["inquiry_id", "reason"]),
        # The acceptance job's notice step reads the moves still to be told: normally none, or
        # those of the run in hand.
        Index(
            "ix_inquiry_passes_notice_pending",
            "passed_at",
            "id",
            postgresql_where=_NOTICE_PENDING,
            sqlite_where=_NOTICE_PENDING,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    reason: Mapped[PassReason] = mapped_column(enum_column(PassReason, "reason"))
    note: Mapped[str] = mapped_column(Text, default="")
    passed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None: passed by the acceptance job, when the window ran out.
    passed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # Whom routing gave it to next; None for passes made before this was kept.
    moved_to_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    # A move by the acceptance job awaits the managers' notice until this is set, by the
    # transaction that queues the notice: written with the move, the mark survives a run that
    # stops before its notice, whose next run tells it then (notice_pending_clause). None on a
    # person's pass, which is nobody's to tell.
    managers_told_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    inquiry: Mapped[Inquiry] = relationship()
    contact: Mapped[Contact | None] = relationship(foreign_keys=[contact_id])
    moved_to_contact: Mapped[Contact | None] = relationship(foreign_keys=[moved_to_contact_id])
    passed_by: Mapped[User | None] = relationship()

    @property
    def automatic(self) -> bool:
        return self.passed_by_id is None


def notice_pending_clause() -> ColumnElement[bool]:
    """The acceptance job's moves not yet told to the managers (ix_inquiry_passes_notice_pending's
    condition). The reason is written into the statement, as open_clause's statuses are, so
    that PostgreSQL's generic plan can still use the partial index."""
    automatic = bindparam(
        "automatic_reason",
        PassReason.NOT_ACCEPTED_IN_TIME,
        literal_execute=True,
        unique=True,
        type_=InquiryPass.reason.type,
    )
    return and_(InquiryPass.reason == automatic, InquiryPass.managers_told_at.is_(None))
