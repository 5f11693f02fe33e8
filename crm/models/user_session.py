from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import UTCDateTime, utcnow
from crm.extensions import db

if TYPE_CHECKING:
    from crm.models.user import User


class UserSession(db.Model):
    """One sign-in. The browser's session cookie carries a random token; only the token's
    SHA-256 is kept here, so a copy of this table opens no session. Signing out deletes the
    row, and with it every copy of the cookie (crm.auth.sessions)."""

    __tablename__ = "user_sessions"
    __table_args__ = (
        CheckConstraint("length(token_hash) = 64", name="token_hash_is_sha256"),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Expired rows are refused at once and deleted at the next sign-in of anyone.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # "Firefox on Android": enough for a person to recognise their own devices on the account page.
    device: Mapped[str] = mapped_column(String(60), default="")

    user: Mapped[User] = relationship()
