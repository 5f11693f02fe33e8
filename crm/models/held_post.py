from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.database import UTCDateTime, enum_column, one_of
from crm.extensions import db
from crm.languages import CODES
from crm.models.contact_preference import ContactPreference


class HeldPost(db.Model):
    """A Get in Touch send stored as it came, to be filed as an inquiry by the job runner
    (crm.inquiries.held_posts): detected spam, and sends beyond the shared routing budget
    during a flood. One insert, no routing; the row is deleted in the transaction that files it.

    No foreign keys: a held send is written without reading anything, and a topic removed
    meanwhile only leaves the inquiry without one."""

    __tablename__ = "held_posts"
    __table_args__ = (
        # A held send becomes an inquiry, whose language CHECK (ck_inquiries_language) would
        # refuse it at filing time, after the family was thanked: refuse it when it is held.
        CheckConstraint(one_of("language", CODES), name="language"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_held_posts_dedupe", "dedupe_key", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)  # filing order: first held, first filed
    # The reference the sender was shown; the inquiry keeps it.
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    contact_preference: Mapped[ContactPreference] = mapped_column(
        enum_column(ContactPreference, "contact_preference"), default=ContactPreference.EMAIL
    )
    zip_code: Mapped[str] = mapped_column(String(10), default="")
    topic_id: Mapped[int | None] = mapped_column()
    language: Mapped[str] = mapped_column(String(5), default="en")
    message: Mapped[str] = mapped_column(Text)
    # Why it was taken for a bot (crm.public.spam.spam_reason); empty: filed and routed as usual.
    spam_reason: Mapped[str] = mapped_column(String(200), default="")
    # The duplicate check's key (crm.inquiries.intake.dedupe_key): the same words sent again
    # while the first send is held are that send, thanked with its reference.
    dedupe_key: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # Failed tries to file it (a lost database connection does not count); after
    # crm.inquiries.held_posts.MAX_ATTEMPTS it is filed for routing by hand instead.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # Why the last try failed: the error's type and statement (crm.logs.describe), never what was sent.
    last_error: Mapped[str] = mapped_column(String(500), default="", server_default="")
