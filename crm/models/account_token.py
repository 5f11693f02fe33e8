from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import UTCDateTime, enum_column, utcnow
from crm.extensions import db
from crm.models.user import Role

if TYPE_CHECKING:
    from crm.models.contact import Contact
    from crm.models.organisation import Organisation
    from crm.models.user import User


class TokenPurpose(enum.StrEnum):
    INVITE = "invite"  # a new account: the holder chooses a password and becomes a user
    RESET = "reset"  # a forgotten password: the holder of an existing account chooses a new one


class AccountToken(db.Model):
    """A single-use, expiring link sent by email (crm.auth.tokens).

    The link carries a random token; only its SHA-256 is kept, so a copy of this table opens
    nothing. A row is not deleted when it is used, withdrawn or expires: it says what
    happened to the link, so the page it leads to can explain itself, and the users page can
    list who was invited and by whom. ACCOUNT_TOKEN_KEEP_DAYS later the account-tokens job
    deletes it (crm.auth.tokens.remove_stopped).
    """

    __tablename__ = "account_tokens"
    __table_args__ = (
        CheckConstraint("length(token_hash) = 64", name="token_hash_is_sha256"),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
        # An invitation says what account to make; a reset names the account it is for.
        CheckConstraint("purpose <> 'invite' OR role IS NOT NULL", name="invite_has_role"),
        CheckConstraint("purpose <> 'reset' OR user_id IS NOT NULL", name="reset_has_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[TokenPurpose] = mapped_column(enum_column(TokenPurpose, "purpose"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    # Invitations: the name the account will have (the person can see it when they accept).
    name: Mapped[str] = mapped_column(String(200), default="")
    # Resets: whose password; invitations: the account made when it was accepted.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Invitations of a routed contact: the contact the new partner user is.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    role: Mapped[Role | None] = mapped_column(enum_column(Role, "role"))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    contact: Mapped[Contact | None] = relationship()
    organisation: Mapped[Organisation | None] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
