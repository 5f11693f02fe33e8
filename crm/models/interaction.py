from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Column, Date, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import TimestampMixin, UTCDateTime, enum_column
from crm.extensions import db

if TYPE_CHECKING:
    from crm.models.contact import Contact
    from crm.models.organisation import Organisation
    from crm.models.user import User


class InteractionKind(enum.StrEnum):
    CALL = "call"
    MEETING = "meeting"
    EMAIL = "email"
    SITE_VISIT = "site_visit"
    NOTE = "note"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


interaction_contacts = Table(
    "interaction_contacts",
    db.metadata,
    Column("interaction_id", ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Interaction(TimestampMixin, db.Model):
    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_follow_up_open", "follow_up_done", "follow_up_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[InteractionKind] = mapped_column(enum_column(InteractionKind, "kind"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    summary: Mapped[str] = mapped_column(Text)
    logged_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    follow_up_done: Mapped[bool] = mapped_column(Boolean, default=False)
    # The record's id in the spreadsheet or system it was imported from (crm.imports): a
    # re-import matches rows on it. Unique where set (a unique index: SQLite adds one without
    # copying the table); most records have none.
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True, index=True)

    logged_by: Mapped[User | None] = relationship()
    organisation: Mapped[Organisation | None] = relationship()
    contacts: Mapped[list[Contact]] = relationship(
        secondary=interaction_contacts, order_by="Contact.name"
    )

    @property
    def has_open_follow_up(self) -> bool:
        return self.follow_up_on is not None and not self.follow_up_done
