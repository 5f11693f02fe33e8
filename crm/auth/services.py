from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crm.auth.passwords import burn_verification_time, verify_password
from crm.extensions import db
from crm.models.contact import Contact
from crm.models.user import User, normalise_email


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def contact_with_email(email: str) -> Contact | None:
    """The contact with this email, ignoring case: an active one first, then the oldest; with
    none, the one a contact with this email was merged into (crm.merging)."""
    if not email:
        return None
    same_email = func.lower(Contact.email) == email.strip().lower()
    found = db.session.scalar(
        select(Contact)
        .where(same_email, Contact.merged_into_id.is_(None))
        .order_by(Contact.active.desc(), Contact.id)
        .limit(1)
    )
    if found is None:
        # A merge moves the contacts merged into the one it retires, so this one is not merged.
        merged_into = db.session.scalar(
            select(Contact.merged_into_id).where(same_email, Contact.merged_into_id.is_not(None)).order_by(Contact.id).limit(1)
        )
        found = db.session.get(Contact, merged_into) if merged_into is not None else None
    return found


def my_contact_id(user: Any) -> int | None:
    """The contact a signed-in user is: ``User.contact_id``, set when the user was created
    (``link_contact``) or the contact added (crm.contacts.services). The one place
    that says how a user is linked to their contact; a key, so a contact whose email changes
    keeps their user's inquiries."""
    if not user.is_authenticated:
        return None
    return user.contact_id


def link_contact(user: User) -> None:
    """Link the user to the contact with their email (contact_with_email),
    unless another user already is that contact; the caller commits. Call it when a user is
    created or their email changes: from then on the key, not the email, says who they are,
    so the contact's email may change and the user keeps their inquiries."""
    contact = contact_with_email(user.email)
    if contact is None:
        user.contact = None
        return
    holder = user_of_contact(contact)
    user.contact = contact if holder is None or holder is user else None


def user_of_contact(contact: Contact) -> User | None:
    """The account a contact signs in with, if any: the user linked to the contact
    (``User.contact_id``), whatever either email says now."""
    if contact.id is None:
        return None
    with db.session.no_autoflush:  # a caller may be part-way through building a user
        return db.session.scalar(select(User).where(User.contact_id == contact.id))


def authenticate(email: str, password: str) -> User | None:
    """The active user these credentials belong to, or None."""
    user = find_user_by_email(email)
    if user is None:
        burn_verification_time(password)
        return None
    if not verify_password(user.password_hash, password) or not user.active:
        return None
    return user
