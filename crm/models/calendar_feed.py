from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import UTCDateTime, utcnow
from crm.extensions import db

if TYPE_CHECKING:
    from crm.models.user import User


class CalendarFeed(db.Model):
    """A user's private calendar feed (crm.calendar): its address carries a random token, of
    which only the SHA-256 is kept, so a copy of this table subscribes to nobody's calendar.
    One per user; resetting it replaces the token, and the old address stops working."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (CheckConstraint("length(token_hash) = 64", name="token_hash_is_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()
