from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.database import UTCDateTime, utcnow
from crm.extensions import db


class FamilyOptOut(db.Model):
    """A family who asked for no more messages about their requests (crm.family).

    Keyed by the SHA-256 of the lower-cased email address, not the address: the list must
    outlive the retention purge, which removes addresses, and still be honoured by the
    follow-up job, which hashes the address of each inquiry it would write to.
    """

    __tablename__ = "family_opt_outs"
    __table_args__ = (CheckConstraint("length(email_hash) = 64", name="email_hash_is_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
