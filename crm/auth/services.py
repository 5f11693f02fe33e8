from __future__ import annotations

from sqlalchemy import select

from crm.auth.passwords import burn_verification_time, verify_password
from crm.extensions import db
from crm.models.contact import Contact
from crm.models.user import User, normalise_email


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def user_of_contact(contact: Contact) -> User | None:
    """The account a contact signs in with, if any: the user with the contact's email.

    The one place a contact is matched to a user, so that following a stored link instead of
    the email is a change here alone."""
    if not contact.email:
        return None
    return find_user_by_email(contact.email)


def authenticate(email: str, password: str) -> User | None:
    """The active user these credentials belong to, or None."""
    user = find_user_by_email(email)
    if user is None:
        burn_verification_time(password)
        return None
    if not verify_password(user.password_hash, password) or not user.active:
        return None
    return user
