"""Inviting people to sign in, and accepting an invitation.

An invitation is an AccountToken of purpose INVITE: the email, name, role and organisation of
the account to make, and, for a routed contact, the contact the account belongs to. Nothing
is made until the person accepts; then the account is theirs, with the password they chose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crm import audit
from crm.auth import sessions, tokens
from crm.auth.passwords import hash_password
from crm.auth.permissions import may_invite
from crm.auth.services import find_user_by_email, link_contact, user_of_contact
from crm.database import utcnow
from crm.extensions import db
from crm.mail.outbox import public_url, queue_email, render_email
from crm.models import AccountToken, Contact, Role, TokenPurpose, User
from crm.models.user import normalise_email


@dataclass(frozen=True)
class SignInStatus:
    """What a contact's page says about their sign-in: an account, an open invitation, or
    why they cannot be invited yet (None: they can)."""

    user: User | None
    invitation: AccountToken | None
    problem: str | None


class InvitationRefused(ValueError):
    """An invitation that cannot be sent or accepted: the message says why, for the page."""


def _valid_for() -> timedelta:
    return timedelta(hours=current_app.config["INVITATION_VALID_HOURS"])


def pending_invitations() -> list[AccountToken]:
    """Invitations neither accepted nor withdrawn, expired ones included (they can be resent),
    newest first."""
    return list(
        db.session.scalars(
            select(AccountToken)
            .where(
                AccountToken.purpose == TokenPurpose.INVITE,
                AccountToken.used_at.is_(None),
                AccountToken.withdrawn_at.is_(None),
            )
            .options(selectinload(AccountToken.organisation), selectinload(AccountToken.created_by))
            .order_by(AccountToken.created_at.desc(), AccountToken.id.desc())
        )
    )


def pending_invitation_for(email: str) -> AccountToken | None:
    """The open invitation to this address that has not expired, if any."""
    now = utcnow()
    return db.session.scalar(
        select(AccountToken)
        .where(
            AccountToken.purpose == TokenPurpose.INVITE,
            AccountToken.email == normalise_email(email),
            AccountToken.used_at.is_(None),
            AccountToken.withdrawn_at.is_(None),
            AccountToken.expires_at > now,
        )
        .order_by(AccountToken.id.desc())
        .limit(1)
    )


def contact_invitation_problem(contact: Contact) -> str | None:
    """Why this contact cannot be invited to sign in, or None when they can."""
    if not contact.active:
        return f"{contact.name} is inactive. Reactivate them before inviting them to sign in."
    if not contact.email:
        return f"{contact.name} has no email address on file. Add one, then invite them."
    if contact.organisation is None:
        return f"{contact.name} belongs to no organisation, and a partner account sees only its own organisation's records."
    if user_of_contact(contact) is not None:
        return f"{contact.name} can already sign in with {contact.email}."
    if pending_invitation_for(contact.email) is not None:
        return f"{contact.name} has already been invited. Resend or withdraw that invitation from the list of pending invitations."
    return None


def sign_in_status(contact: Contact) -> SignInStatus:
    user = user_of_contact(contact)
    invitation = None if user is not None or not contact.email else pending_invitation_for(contact.email)
    return SignInStatus(user, invitation, contact_invitation_problem(contact) if user is None and invitation is None else None)


def _queue_invitation_email(row: AccountToken, token: str) -> None:
    inviter = row.created_by.name if row.created_by else "The foundation team"
    body = render_email(
        "email/invitation.txt",
        invitation=row,
        inviter=inviter,
        url=public_url("invitations.accept", token=token),
        valid_hours=current_app.config["INVITATION_VALID_HOURS"],
    )
    queue_email(
        kind="invitation",
        to_address=row.email,
        subject="You are invited to sign in to Backbone CRM",
        body_text=body,
    )


def _issue(actor: User, **fields) -> AccountToken:
    row, token = tokens.issue(TokenPurpose.INVITE, valid_for=_valid_for(), created_by=actor, **fields)
    _queue_invitation_email(row, token)
    return row


def invite_contact(contact: Contact, actor: User) -> AccountToken:
    """Invite a contact to sign in as a partner user of their organisation; raises
    InvitationRefused (and changes nothing) when contact_invitation_problem says why not."""
    problem = contact_invitation_problem(contact)
    if problem:
        raise InvitationRefused(problem)
    row = _issue(
        actor,
        email=normalise_email(contact.email),
        name=contact.name,
        role=Role.PARTNER,
        organisation=contact.organisation,
        contact=contact,
    )
    audit.commit(actor)
    return row


def invite_colleague(name: str, email: str, actor: User) -> AccountToken:
    """Invite a foundation colleague to sign in with the staff role."""
    if find_user_by_email(email) is not None:
        raise InvitationRefused("There is already an account with this email address.")
    if pending_invitation_for(email) is not None:
        raise InvitationRefused("This address has already been invited. Resend or withdraw that invitation below.")
    row = _issue(actor, email=normalise_email(email), name=name, role=Role.STAFF)
    audit.commit(actor)
    return row


def resend(row: AccountToken, actor: User) -> AccountToken:
    """Withdraw the invitation and send a new one with a fresh link and a fresh expiry: the old
    link stops working, so only the newest email opens the account."""
    if row.used_at is not None or row.withdrawn_at is not None:
        raise InvitationRefused("This invitation was already accepted or withdrawn.")
    if find_user_by_email(row.email) is not None:
        raise InvitationRefused(f"{row.email} can already sign in; there is nothing to resend.")
    tokens.withdraw(row)
    new_row = _issue(
        actor,
        email=row.email,
        name=row.name,
        role=row.role,
        organisation=row.organisation,
        contact=row.contact,
    )
    audit.commit(actor)
    return new_row


def withdraw(row: AccountToken, actor: User) -> None:
    if row.used_at is not None or row.withdrawn_at is not None:
        raise InvitationRefused("This invitation was already accepted or withdrawn.")
    tokens.withdraw(row)
    audit.commit(actor)


def accept(row: AccountToken, password: str, user_agent: str) -> User:
    """Make the account the invitation describes, with the chosen password, spend the link and
    open a session for it (the caller signs the browser in). Raises InvitationRefused when the
    address has an account by now, and LinkRefused when another request spent the link first."""
    if find_user_by_email(row.email) is not None:
        raise InvitationRefused(
            f"There is already an account for {row.email}. Sign in, or use “Forgot your password?” on the sign-in page."
        )
    sender = row.created_by
    if sender is not None and not (sender.active and may_invite(sender.role, row.role or Role.PARTNER)):
        # The link carries its sender's say-so: once they are deactivated, or may no longer
        # invite to this role, nobody vouches for the account it would make.
        raise InvitationRefused(
            "This invitation no longer applies: whoever sent it can no longer invite you. "
            "Ask someone at the foundation to send a new one."
        )
    organisation_id = row.organisation_id
    if row.contact is not None:
        # The contact's organisation now, not when they were invited: a partner sees their
        # organisation's records, and one they have left since is no longer theirs.
        if not row.contact.active or row.contact.organisation_id is None:
            raise InvitationRefused(
                "This invitation no longer applies: the foundation's records no longer show you at a partner "
                "organisation. Ask whoever invited you to look into it."
            )
        # The link went to the address the contact had then; whoever reads it after the
        # contact's email changed is not the contact.
        if normalise_email(row.contact.email or "") != row.email:
            raise InvitationRefused(
                "This invitation no longer applies: it was sent to an address the foundation no longer has for "
                "this contact. Ask whoever invited you to send a new one."
            )
        organisation_id = row.contact.organisation_id
    user = User(
        email=row.email,
        name=row.name or row.email,
        role=row.role or Role.PARTNER,
        organisation_id=organisation_id if row.role is Role.PARTNER else None,
        password_hash=hash_password(password),
    )
    # The contact invited, or else the contact with the address (as any new user is linked).
    if row.contact_id is not None and user_of_contact(row.contact) is None:
        user.contact = row.contact
    else:
        link_contact(user)
    # The invited contact is the account's contact; a colleague's is found by email, as for
    # any new user.
    if row.contact is not None and user_of_contact(row.contact) is None:
        user.contact = row.contact
    else:
        link_contact(user)
    db.session.add(user)
    tokens.use(row)
    row.user = user
    db.session.flush()
    sessions.open_session(user, user_agent)
    try:
        audit.commit(user)
    except IntegrityError:
        # The same address became an account between the check and the insert.
        db.session.rollback()
        raise InvitationRefused(f"There is already an account for {row.email}. Sign in instead.") from None
    return user
