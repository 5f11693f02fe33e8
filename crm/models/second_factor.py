from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.database import UTCDateTime, utcnow
from crm.extensions import db


class UserSecondFactor(db.Model):
    """A user's authenticator app (TOTP, RFC 6238). The shared secret is kept encrypted with a
    key derived from SECRET_KEY (crm.auth.secret_box), so a copy of the database alone yields no
    codes. A row without confirmed_at is a setup begun but not yet proven with a code: it does
    not count as two-factor sign-in being on."""

    __tablename__ = "user_second_factors"
    __table_args__ = (CheckConstraint("failed_attempts >= 0", name="failed_attempts_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret_encrypted: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The 30-second time step of the last code accepted: a code of that step or an earlier one
    # is refused, so a code seen over someone's shoulder cannot be used a second time.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    # Wrong codes since the last right one, shown to the owner and written to the audit trail.
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)


class RecoveryCode(db.Model):
    """One of a user's single-use recovery codes, for a lost phone. Only the code's SHA-256 is
    kept: each code is about 50 random bits, so a fast hash is enough, and it lets the code be
    found by an indexed equality instead of comparing secrets one by one."""

    __tablename__ = "recovery_codes"
    __table_args__ = (
        UniqueConstraint("user_id", "code_hash", name="uq_recovery_codes_user_id_code_hash"),
        CheckConstraint("length(code_hash) = 64", name="code_hash_is_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
