from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Date, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import TimestampMixin, enum_column
from crm.extensions import db

if TYPE_CHECKING:
    from crm.models.organisation import Organisation


class GrantStatus(enum.StrEnum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    CLOSED = "closed"
    DECLINED = "declined"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Grant(TimestampMixin, db.Model):
    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        # NULL-safe as every CHECK: a NULL date passes (the columns are NOT NULL anyway).
        CheckConstraint("end_date >= start_date", name="ends_on_or_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    program: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    status: Mapped[GrantStatus] = mapped_column(
        enum_column(GrantStatus, "status"), default=GrantStatus.ACTIVE, index=True
    )
    notes: Mapped[str] = mapped_column(Text, default="")
    # The record's id in the spreadsheet or system it was imported from (crm.imports): a
    # re-import matches rows on it. Unique where set (a unique index: SQLite adds one without
    # copying the table); most records have none.
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True, index=True)

    organisation: Mapped[Organisation] = relationship(back_populates="grants")
    reports: Mapped[list[GrantReport]] = relationship(
        back_populates="grant", order_by="GrantReport.due_on", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:
        return self.status is GrantStatus.ACTIVE

    def __str__(self) -> str:
        return f"{self.program} ({self.start_date.year})"


class GrantReport(db.Model):
    """A report the grantee owes on a due date."""

    __tablename__ = "grant_reports"
    # One report per due date; it also serves the lookups by grant_id, hence no index of its own.
    __table_args__ = (UniqueConstraint("grant_id", "due_on", name="uq_grant_reports_grant_id_due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"))
    due_on: Mapped[date] = mapped_column(Date, index=True)
    received_on: Mapped[date | None] = mapped_column(Date)

    grant: Mapped[Grant] = relationship(back_populates="reports")
