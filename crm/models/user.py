from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, String, delete, false
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from crm.database import TimestampMixin, enum_column
from crm.extensions import db
from crm.models.user_session import UserSession

if TYPE_CHECKING:
    from crm.models.contact import Contact
    from crm.models.organisation import Organisation


class Role(enum.StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    STAFF = "staff"
    PARTNER = "partner"

    @property
    def label(self) -> str:
        return self.value.capitalize()


def normalise_email(email: str) -> str:
    return email.strip().lower()


class User(TimestampMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"), default=Role.STAFF)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Set when an administrator gives the user a temporary password: until they choose their
    # own, the password page is the only one they reach (crm.auth.password_gate).
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )

    # The contact this user is: inquiries are assigned to contacts, so "My open inquiries"
    # and the notices they are sent follow this key. Set by crm.users.services when the user
    # is created or their email changes (the contact with that email), and by
    # crm.contacts.services when a contact is added with a user's email; a contact's email
    # may change afterwards without losing the link.
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), unique=True, index=True
    )

    organisation: Mapped[Organisation | None] = relationship()
    contact: Mapped[Contact | None] = relationship()

    # The token of the sign-in this object stands for in the current request, set by
    # crm.auth.sessions when it signs the user in or loads them from the session cookie.
    # Not a column: the database keeps only its hash, in user_sessions.
    current_session_token = None

    @validates("email")
    def _normalise_email(self, _key: str, value: str) -> str:
        return normalise_email(value)

    # Flask-Login's user interface.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        # Flask-Login keeps this in the session cookie and hands it back to the user loader:
        # the sign-in's token, never the user's id, so ending the sign-in ends every copy of
        # the cookie.
        if not self.current_session_token:
            raise RuntimeError("sign users in with crm.auth.sessions.sign_in, which opens their session")
        return self.current_session_token

    def end_sessions(self) -> None:
        """End every sign-in of this user, in every browser (deactivation, a password reset or
        change, signing out everywhere); the caller commits."""
        db.session.execute(delete(UserSession).where(UserSession.user_id == self.id))

    def __str__(self) -> str:
        return self.name
