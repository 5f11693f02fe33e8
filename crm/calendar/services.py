"""The private calendar feed: its secret address (issued, reset, turned off) and what is in it.

The address carries `secrets.token_urlsafe(32)` and the database keeps only its SHA-256, the
way emailed links are kept (crm.auth.tokens): 256 random bits need no slow hash, and the row
is found by an indexed equality. A calendar app fetches the feed with no session and no
second factor, so the token is the whole of the key: it is shown once, and a reset (or
turning the feed off) makes every copy of the old address stop working.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from crm import audit
from crm.auth.permissions import is_staff
from crm.auth.tokens import MAX_TOKEN_LENGTH, TOKEN_BYTES, hash_token
from crm.calendar.feed import Entry, calendar_bytes
from crm.extensions import db
from crm.grants.services import reports_due_for
from crm.interactions.services import open_follow_ups
from crm.mail.outbox import public_url
from crm.models import CalendarFeed, GrantReport, Interaction, User

# --- the secret address ----------------------------------------------------------------


def feed_of(user: User) -> CalendarFeed | None:
    return db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id))


def issue(user: User, now: datetime) -> str:
    """Give ``user`` a new feed address, replacing any they had, and commit; returns the token,
    whose only copy goes into the address shown to them."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    feed = feed_of(user) or CalendarFeed(user_id=user.id)
    feed.token_hash = hash_token(token)
    feed.created_at = now
    db.session.add(feed)
    audit.commit(user)
    return token


def turn_off(user: User) -> bool:
    """Forget the user's feed address, so it no longer works; False if they had none."""
    feed = feed_of(user)
    if feed is None:
        return False
    db.session.delete(feed)
    audit.commit(user)
    return True


def user_for_token(token: str) -> User | None:
    """The active user whose feed this token opens, or None (mistyped, reset, turned off, or the
    user deactivated)."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    wanted = hash_token(token)
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == wanted))
    if feed is None or not hmac.compare_digest(feed.token_hash, wanted) or not feed.user.active:
        return None
    return feed.user


def feed_url(token: str) -> str:
    return public_url("calendar.feed", token=token)


# --- what is in it ----------------------------------------------------------------------


def _uid_domain() -> str:
    return urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname or "backbone-crm.localhost"


def _follow_up_entry(interaction: Interaction, domain: str) -> Entry:
    # The interaction's summary (meeting notes) stays in the CRM: the feed is read by a
    # calendar service outside the foundation. The link leads back to it.
    assert interaction.follow_up_on is not None  # noqa: S101  (open_follow_ups has only dated ones)
    with_whom = interaction.organisation.name if interaction.organisation else ", ".join(map(str, interaction.contacts))
    if interaction.organisation is not None:
        url = public_url("organisations.detail", organisation_id=interaction.organisation.id)
    elif interaction.contacts:
        url = public_url("contacts.detail", contact_id=interaction.contacts[0].id)
    else:
        url = public_url("interactions.edit", interaction_id=interaction.id)
    summary = f"Follow up: {interaction.kind.label.lower()}" + (f" with {with_whom}" if with_whom else "")
    return Entry(
        uid=f"follow-up-{interaction.id}@{domain}",
        day=interaction.follow_up_on,
        summary=summary,
        url=url,
        description=f"A follow-up of the {interaction.kind.label.lower()} you logged. Open it in Backbone CRM: {url}",
    )


def _report_entry(report: GrantReport, domain: str, staff: bool) -> Entry:
    grant = report.grant
    # Grant pages are for staff; a partner's link goes to their organisation's page.
    if staff:
        url = public_url("grants.detail", grant_id=grant.id)
    else:
        url = public_url("organisations.detail", organisation_id=grant.organisation_id)
    return Entry(
        uid=f"grant-report-{report.id}@{domain}",
        day=report.due_on,
        summary=f"Grant report due: {grant.program} ({grant.organisation.name})",
        url=url,
        description=f"The report on the grant {grant} is due. Open it in Backbone CRM: {url}",
    )


def entries_for(user: User) -> list[Entry]:
    """The user's open follow-ups (staff only) and the grant reports due that they may see."""
    domain = _uid_domain()
    staff = is_staff(user)
    # Interactions are staff pages: a user made a partner keeps the ones they logged about
    # other organisations, and those must not reach a partner's feed.
    interactions = db.session.scalars(open_follow_ups(user)) if staff else []
    follow_ups = [_follow_up_entry(interaction, domain) for interaction in interactions]
    reports = [_report_entry(report, domain, staff) for report in reports_due_for(user)]
    return follow_ups + reports


def feed_for(user: User, now: datetime) -> bytes:
    return calendar_bytes(
        f"Backbone CRM: {user.name}", f"calendar-{user.id}@{_uid_domain()}", entries_for(user), stamp=now
    )
