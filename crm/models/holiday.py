"""Holiday calendars: the days the response clock does not count.

The foundation's calendar (exactly one, marked ``is_foundation``) closes every organisation;
an organisation may keep a calendar of its own on top of it (a partner closed the week of
Christmas). Which days a given inquiry's clock skips is worked out in crm.holidays.calendars.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint, column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import TimestampMixin
from crm.extensions import db

if TYPE_CHECKING:
    from crm.models.organisation import Organisation


class HolidayCalendar(TimestampMixin, db.Model):
    __tablename__ = "holiday_calendars"
    __table_args__ = (
        # At most one foundation calendar, held by the schema rather than by the seeding code.
        Index(
            "uq_holiday_calendars_foundation",
            "is_foundation",
            unique=True,
            postgresql_where=column("is_foundation").is_(True),
            sqlite_where=column("is_foundation").is_(True),
        ),
        # The foundation's calendar belongs to no organisation; every other calendar to one.
        CheckConstraint(
            "(is_foundation AND organisation_id IS NULL) OR (NOT is_foundation AND organisation_id IS NOT NULL)",
            name="owner",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    is_foundation: Mapped[bool] = mapped_column(Boolean, default=False)
    # One calendar per organisation. Deleting an organisation takes its calendar along.
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), unique=True
    )

    # The foundation's calendar: the last year whose US federal holidays were loaded into it
    # (flask crm seed-holidays). Later runs load only the years after it, so a holiday a
    # manager removed is never loaded back.
    federal_holidays_through: Mapped[int | None] = mapped_column(Integer)

    organisation: Mapped[Organisation | None] = relationship()
    holidays: Mapped[list[Holiday]] = relationship(
        back_populates="calendar", order_by="Holiday.day", cascade="all, delete-orphan"
    )

    def __str__(self) -> str:
        return self.name


class Holiday(TimestampMixin, db.Model):
    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("calendar_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("holiday_calendars.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(120))

    calendar: Mapped[HolidayCalendar] = relationship(back_populates="holidays")

    def __str__(self) -> str:
        return f"{self.name} ({self.day.isoformat()})"
