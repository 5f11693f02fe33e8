from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import UTCDateTime, enum_column, utcnow
from crm.extensions import db
from crm.models.inquiry import Inquiry


class EmailStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SENT = "sent"
    HELD = "held"  # no SMTP server configured: kept for an admin to read in the app
    DEAD = "dead"  # gave up after repeated failures; an admin may re-send

    @property
    def label(self) -> str:
        return self.value.capitalize()


class EmailKind(enum.StrEnum):
    """Why an email was queued; the timeline names each (crm.mail.outbox.email_line)."""

    CONTACT_NOTICE = "contact_notice"
    REASSIGNED_NOTICE = "reassigned_notice"
    REQUESTER_ACK = "requester_ack"
    SLA_REMINDER = "sla_reminder"
    SLA_ESCALATION = "sla_escalation"
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"  # noqa: S105  (a kind of email, not a password)
    FAMILY_FOLLOW_UP = "family_follow_up"
    FAMILY_REOPENED = "family_reopened"
    ACCEPTANCE_MISSED = "acceptance_missed"


class OutboundEmail(db.Model):
    """The outbox: written in the same transaction as the change that causes the email."""

    __tablename__ = "outbound_emails"
    __table_args__ = (Index("ix_outbound_emails_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Fixed when queued, so a retried message keeps its Message-ID and receivers can drop repeats.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    inquiry_id: Mapped[int | None] = mapped_column(ForeignKey("inquiries.id", ondelete="SET NULL"), index=True)
    kind: Mapped[EmailKind] = mapped_column(enum_column(EmailKind, "kind"))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5), default="en")
    # The Reply-To header, fixed when queued like the Message-ID: every retry and re-send
    # is the same message, and the outbox page shows where a reply would go. None: no header.
    reply_to: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[EmailStatus] = mapped_column(enum_column(EmailStatus, "status"), default=EmailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker claims a message until this time, so two workers never send the same one.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    inquiry: Mapped[Inquiry | None] = relationship()
