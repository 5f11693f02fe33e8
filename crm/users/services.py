from __future__ import annotations

import secrets

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crm import audit
from crm.auth import tokens
from crm.auth.passwords import hash_password
from crm.auth.services import link_contact
from crm.extensions import db
from crm.models import Role, User
from crm.models.user import normalise_email


class DuplicateEmail(ValueError):
    pass


class NotAllowed(ValueError):
    """A change that would lock the initiative out: the message says why."""


def all_users() -> Select:
    return (
        select(User)
        .options(selectinload(User.organisation))
        .order_by(User.active.desc(), func.lower(User.name), User.id)
    )



def email_taken(email: str) -> bool:
    return db.session.scalar(select(User.id).where(User.email == normalise_email(email))) is not None


def generate_password() -> str:
    """A temporary password: 16 URL-safe characters, about 96 bits of randomness."""
    return secrets.token_urlsafe(12)


def _ensure_another_active_admin(user: User) -> None:
    # FOR UPDATE on PostgreSQL, so two admins cannot demote each other at the same moment.
    others = db.session.scalars(
        select(User.id)
        .where(User.role == Role.ADMIN, User.active.is_(True), User.id != user.id)
        .with_for_update()
    ).all()
    if not others:
        raise NotAllowed(
            f"{user.name} is the last active administrator. Make someone else an administrator first."
        )


def _apply_details(user: User, data: dict) -> None:
    role = Role(data["role"])
    if user.role is Role.ADMIN and role is not Role.ADMIN and user.active:
        _ensure_another_active_admin(user)
    user.name = data["name"]
    user.role = role
    user.organisation_id = data.get("organisation_id") if role is Role.PARTNER else None


def create_user(data: dict, actor: User) -> tuple[User, str | None]:
    """Create an account from validated form data. Returns the user and, when the admin left the
    password blank, the generated temporary password (the only copy: it is not stored)."""
    if email_taken(data["email"]):
        raise DuplicateEmail(data["email"])
    temporary = None if data.get("password") else generate_password()
    user = User(email=data["email"], password_hash=hash_password(data.get("password") or temporary))
    # A password someone else has seen is theirs only until they sign in.
    user.must_change_password = temporary is not None
    _apply_details(user, data)
    link_contact(user)
    db.session.add(user)
    try:
        audit.commit(actor)
    except IntegrityError:
        # Another request took the address between our check and the insert.
        db.session.rollback()
        raise DuplicateEmail(data["email"]) from None
    return user, temporary


def update_user(user: User, data: dict, actor: User) -> None:
    """Raises NotAllowed (and changes nothing) when this would demote the last active admin."""
    _apply_details(user, data)
    audit.commit(actor)


def check_deactivate(user: User, actor: User) -> None:
    """Raises NotAllowed when `actor` may not deactivate `user`; writes nothing."""
    if user.id == actor.id:
        raise NotAllowed("You cannot deactivate your own account.")
    if user.role is Role.ADMIN and user.active:
        _ensure_another_active_admin(user)


def deactivate(user: User, actor: User) -> None:
    check_deactivate(user, actor)
    user.active = False
    user.end_sessions()
    audit.commit(actor)


def reactivate(user: User, actor: User) -> None:
    user.active = True
    audit.commit(actor)


def reset_password(user: User, actor: User) -> str:
    """Give the user a new temporary password, which they must change when they next sign in,
    and sign them out everywhere; returns the password."""
    if user.id == actor.id:
        raise NotAllowed("To change your own password, use Change password on your account page.")
    temporary = generate_password()
    user.password_hash = hash_password(temporary)
    user.must_change_password = True
    user.end_sessions()
    # A reset link emailed earlier would let its reader skip the forced change.
    tokens.withdraw_reset_links(user)
    audit.commit(actor)
    return temporary
