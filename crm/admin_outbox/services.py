"""Listing the outbox and putting a message back in the queue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, case, func, select

from crm import audit
from crm.database import utcnow
from crm.extensions import db
from crm.mail.opt_out import stopped_by_opt_out
from crm.mail.sign_in_links import hide_token, token_hidden
from crm.models import EmailStatus, OutboundEmail, User

UNSENT = (EmailStatus.DEAD, EmailStatus.HELD, EmailStatus.PENDING)
# Filter key -> (label, statuses shown). The first is the default: what may need an admin.
STATUS_FILTERS: dict[str, tuple[str, tuple[EmailStatus, ...]]] = {
    "unsent": ("Not sent (dead, held, pending)", UNSENT),
    **{status.value: (status.label, (status,)) for status in UNSENT},
    EmailStatus.SENT.value: (EmailStatus.SENT.label, (EmailStatus.SENT,)),
    "all": ("All", tuple(EmailStatus)),
}
RESENDABLE = frozenset({EmailStatus.DEAD, EmailStatus.HELD})

# Dead first (someone should look), then held, pending, and sent last.
_STATUS_ORDER = case(
    {EmailStatus.DEAD: 0, EmailStatus.HELD: 1, EmailStatus.PENDING: 2},
    value=OutboundEmail.status,
    else_=3,
)


def shown_body(email: OutboundEmail) -> str:
    """The message as the outbox page shows it: a sign-in link's token written "(hidden)"
    (crm.mail.sign_in_links), also while the row itself still holds it (pending or held)."""
    return hide_token(email.kind, email.body_text)


class NotResendable(ValueError):
    pass


class OptedOut(NotResendable):
    """A follow-up to a family who opted out: the runner would not send it (crm.mail.opt_out)."""


class LinkHidden(NotResendable):
    """A sign-in link whose token the row no longer holds (hidden once it was sent or given up
    on): sent again it would open nothing, so the person needs a new link instead."""


def link_hidden(email: OutboundEmail) -> bool:
    """Whether the message is a sign-in link stored without its token: refused a re-send."""
    return token_hidden(email.kind, email.body_text)


def can_resend(email: OutboundEmail) -> bool:
    return (
        email.status in RESENDABLE
        and not link_hidden(email)
        and not stopped_by_opt_out(email.kind, email.to_address)
    )


def search(status_filter: str) -> Select:
    _label, statuses = STATUS_FILTERS.get(status_filter, STATUS_FILTERS["unsent"])
    return (
        select(OutboundEmail)
        .where(OutboundEmail.status.in_(statuses))
        .order_by(_STATUS_ORDER, OutboundEmail.created_at.desc(), OutboundEmail.id.desc())
    )


def counts_by_status() -> dict[EmailStatus, int]:
    rows = db.session.execute(select(OutboundEmail.status, func.count()).group_by(OutboundEmail.status))
    counts = dict.fromkeys((*UNSENT, EmailStatus.SENT), 0)
    counts.update({EmailStatus(status): count for status, count in rows})
    return counts


def resend(email: OutboundEmail, actor: User, now: datetime | None = None) -> None:
    """Put a dead or held message back in the queue, due now, with a fresh count of attempts.

    It keeps its Message-ID: if an earlier attempt did reach someone, their mail program can
    recognise the repeat. Raises NotResendable for a message that is pending or already sent,
    OptedOut for a follow-up to a family who has opted out since it was queued, and LinkHidden
    for a sign-in link whose token is hidden (checked first: whatever its status, the answer
    for it is a new link).
    """
    if link_hidden(email):
        raise LinkHidden("the sign-in link's token is no longer stored")
    if email.status not in RESENDABLE:
        raise NotResendable(f"a {email.status.value} message cannot be re-sent")
    if stopped_by_opt_out(email.kind, email.to_address):
        raise OptedOut("the family opted out")
    email.status = EmailStatus.PENDING
    email.attempts = 0
    email.next_attempt_at = now or utcnow()
    email.locked_until = None
    email.last_error = ""
    audit.commit(actor)
