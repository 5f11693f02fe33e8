from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, String, Table, Text, column, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import TimestampMixin, UTCDateTime
from crm.extensions import db
from crm.languages import language_name
from crm.models.routing import Topic
from crm.schema import unread_on_sqlite

if TYPE_CHECKING:
    from crm.models.organisation import Organisation

# The topics a contact handles when their organisation splits the work; none = every topic.
contact_topics = Table(
    "contact_topics",
    db.metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True, index=True),
)

# Conditions of the partial unique indexes below, as SQL both databases read alike.
ACTIVE_WITH_EMAIL = text("active AND email <> ''")
IS_FALLBACK = text("is_inquiry_fallback")


class ContactRole(enum.StrEnum):
    PRIMARY_GRANTEE = "primary_grantee"
    PROGRAM = "program"
    MEDIA = "media"
    FINANCE = "finance"
    EXECUTIVE = "executive"
    COMMUNITY = "community"

    @property
    def label(self) -> str:
        return {
            "primary_grantee": "Primary grantee contact",
            "program": "Program contact",
            "media": "Media contact",
            "finance": "Finance contact",
            "executive": "Executive leader",
            "community": "Community liaison",
        }[self.value]


class Contact(TimestampMixin, db.Model):
    __tablename__ = "contacts"
    __table_args__ = (
        # The assign and filter menus on every inbox and inquiry page list the few hundred
        # contacts who take inquiries, out of every requester and partner staff member on file.
        # The condition is written as those queries write it (accepts_inquiries IS true), so
        # the planner can tell that the index holds every row they want.
        Index(
            "ix_contacts_responders",
            "organisation_id",
            postgresql_where=column("accepts_inquiries").is_(True),
            sqlite_where=column("accepts_inquiries").is_(True),
        ),
        # Active contacts' emails are unique, ignoring case (contacts.services.email_taken
        # checks first, for a friendly message; this holds against a race). Many contacts
        # have no email at all, hence the empty string is left out.
        unread_on_sqlite(
            Index(
                "uq_contacts_active_email",
                func.lower(column("email")),
                unique=True,
                postgresql_where=ACTIVE_WITH_EMAIL,
                sqlite_where=ACTIVE_WITH_EMAIL,
            )
        ),
        # At most one fallback contact (routing.editing.set_fallback moves the role).
        Index(
            "uq_contacts_inquiry_fallback",
            "is_inquiry_fallback",
            unique=True,
            postgresql_where=IS_FALLBACK,
            sqlite_where=IS_FALLBACK,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="", index=True)
    phone: Mapped[str] = mapped_column(String(40), default="")
    # Codes from crm.languages; a list because most contacts speak one and some speak both.
    languages: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["en"])
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    show_on_public_page: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    # Routing: whether public inquiries may be sent to this person, and when they are away.
    accepts_inquiries: Mapped[bool] = mapped_column(Boolean, default=False)
    away_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    away_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why they are away ("maternity leave"), shown to colleagues; never a reason to route.
    away_note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # The foundation staff member who takes whatever no rule can place; at most one.
    is_inquiry_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The record's id in the spreadsheet or system it was imported from (crm.imports): a
    # re-import matches rows on it. Unique where set (a unique index: SQLite adds one without
    # copying the table); most records have none.
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True, index=True)
    # Set when this contact was merged into another (crm.merging): the record is kept, with its
    # history, but hidden from lists, search, routing and the API's lists; its page points on.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)

    organisation: Mapped[Organisation | None] = relationship(
        back_populates="contacts", foreign_keys=[organisation_id]
    )
    topics: Mapped[list[Topic]] = relationship(secondary=contact_topics, order_by=Topic.sort_order)

    @property
    def language_names(self) -> list[str]:
        return [language_name(code) for code in self.languages or []]

    @property
    def role_labels(self) -> list[str]:
        labels = []
        for code in self.roles or []:
            try:
                labels.append(ContactRole(code).label)
            except ValueError:
                labels.append(code)
        return labels

    def __str__(self) -> str:
        return self.name
