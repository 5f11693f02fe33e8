"""A try at reaching the family behind an inquiry: a call, a text, a voicemail. Attempts are
the partner's side of the loop; the first response to the requester is still what stops the
response clock (``Inquiry.first_response_at``)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import UTCDateTime, enum_column, utcnow
from crm.extensions import db

if TYPE_CHECKING:
    from crm.models.inquiry import Inquiry
    from crm.models.user import User


class AttemptMethod(enum.StrEnum):
    CALL = "call"
    TEXT = "text"
    EMAIL = "email"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"

    @property
    def label(self) -> str:
        return _METHOD_LABELS[self]


_METHOD_LABELS: dict[AttemptMethod, str] = {
    AttemptMethod.CALL: "Call",
    AttemptMethod.TEXT: "Text message",
    AttemptMethod.EMAIL: "Email",
    AttemptMethod.VOICEMAIL: "Voicemail left",
    AttemptMethod.NO_ANSWER: "No answer",
}


class ContactAttempt(db.Model):
    __tablename__ = "contact_attempts"
    # The inbox counts a page's attempts and finds the last, per inquiry, from this index alone.
    __table_args__ = (Index("ix_contact_attempts_inquiry", "inquiry_id", "attempted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("inquiries.id", ondelete="CASCADE"))
    method: Mapped[AttemptMethod] = mapped_column(enum_column(AttemptMethod, "method"))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
    logged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    inquiry: Mapped[Inquiry] = relationship()
    logged_by: Mapped[User | None] = relationship()
