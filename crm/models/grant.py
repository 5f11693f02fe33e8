from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Date, ForeignKey, Numeric, String, Text
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

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    program: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    status: Mapped[GrantStatus] = mapped_column(
        enum_column(GrantStatus), default=GrantStatus.ACTIVE, index=True
    )
    notes: Mapped[str] = mapped_column(Text, default="")

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

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    received_on: Mapped[date | None] = mapped_column(Date)

    grant: Mapped[Grant] = relationship(back_populates="reports")
