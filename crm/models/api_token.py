from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import UTCDateTime, enum_column, utcnow
from crm.extensions import db

if TYPE_CHECKING:
    from crm.models.user import User


class TokenScope(enum.StrEnum):
    READ = "read"  # GET only
    WRITE = "write"  # reads, and creates and updates where the user's role may

    @property
    def label(self) -> str:
        return {"read": "Read only", "write": "Read and write"}[self.value]


class ApiToken(db.Model):
    """A personal API token (crm.api.tokens): the JSON API acts as its user, with the user's
    role and organisation, within its scope.

    The token is shown once, when it is made; only its SHA-256 is kept, so a copy of this
    table opens nothing. A revoked token keeps its row, so the account page can say when it
    was last used and when it was revoked.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("length(token_hash) = 64", name="token_hash_is_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[TokenScope] = mapped_column(enum_column(TokenScope, "scope"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, for its owner to tell their tokens apart.
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
