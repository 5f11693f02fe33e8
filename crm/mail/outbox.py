"""Queue outgoing email in the outbox, inside the caller's transaction.

Nothing here talks to an SMTP server: the worker (crm.mail.worker) sends what is queued,
so an email can never be lost between a commit and a send.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from email.utils import getaddresses, make_msgid

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import LazyString, force_locale, gettext
from sqlalchemy import select

from crm import audit
from crm.database import utcnow
from crm.extensions import db
from crm.mail.opt_out import opt_out_token
from crm.models import Contact, EmailKind, Inquiry, InquiryEventKind, OutboundEmail
from crm.models.inquiry import add_event, event_row
from crm.timezones import display_timezone


@dataclass(frozen=True)
class KindWording:
    what: str  # "Acknowledgement"
    to_whom: str  # "the requester"


# The outbox's kinds of email, as the timeline names them.
KIND_WORDING: dict[EmailKind, KindWording] = {
    EmailKind.CONTACT_NOTICE: KindWording("New-inquiry notice", "the assignee"),
    EmailKind.REASSIGNED_NOTICE: KindWording("Reassignment notice", "the new assignee"),
    EmailKind.REQUESTER_ACK: KindWording("Acknowledgement", "the requester"),
    EmailKind.SLA_REMINDER: KindWording("Reminder", "the assignee"),
    EmailKind.SLA_ESCALATION: KindWording("Overdue alert", "a manager"),
    EmailKind.INVITATION: KindWording("Invitation to sign in", "the person invited"),
    EmailKind.PASSWORD_RESET: KindWording("Password reset link", "the account holder"),
    EmailKind.ACCEPTANCE_MISSED: KindWording("Not-accepted-in-time notice", "a manager"),
    EmailKind.FAMILY_FOLLOW_UP: KindWording("Follow-up", "the requester"),
    EmailKind.FAMILY_REOPENED: KindWording("Still-needs-help notice", "the assignee or a manager"),
}
CONTACT_NOTICE_KINDS = frozenset({EmailKind.CONTACT_NOTICE, EmailKind.REASSIGNED_NOTICE})


def email_line(kind: str, happened: str, address: str) -> str:
    """One line about an email for the timeline: email_line("sla_reminder", "emailed to", "a@b.org")
    gives "Reminder emailed to the assignee (a@b.org)". Timeline events keep the kind as text,
    so a kind no longer sent is still worded."""
    known = KIND_WORDING.get(kind)  # type: ignore[call-overload]  # a StrEnum hashes as its value
    if known is None:
        return f"{kind.replace('_', ' ').capitalize()} {happened} {address}"
    return f"{known.what} {happened} {known.to_whom} ({address})"


def _message_domain() -> str:
    sender = current_app.config.get("MAIL_DEFAULT_SENDER") or ""
    domain = sender.rpartition("@")[2].strip("> ")
    return domain or "backbone-crm.localhost"


def public_url(endpoint: str, **values) -> str:
    """The absolute address of a page, on PUBLIC_BASE_URL, for a link in an email: built
    without a request (the mail may be queued by a command), so it never names whatever host
    a request happened to arrive on."""
    path = current_app.url_map.bind("", script_name="/").build(endpoint, values)
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def opt_out_url(email: str, language: str) -> str:
    """The link every family message ends with (crm.mail.opt_out), opening in their language."""
    return public_url("family.opt_out", token=opt_out_token(email), lang=language)


def inquiry_url(inquiry: Inquiry) -> str:
    return public_url("inquiries.detail", inquiry_id=inquiry.id)


REPLY_TO_MAX = OutboundEmail.__table__.c.reply_to.type.length


def reply_to_problem(value: str) -> str | None:
    """What makes MAIL_REPLY_TO unusable as a Reply-To header ("must be one address"), or
    None when it is usable or empty. create_app refuses to start on a problem: otherwise
    every acknowledgement would fail to queue or to send."""
    value = value.strip()
    if not value:
        return None
    if len(value) > REPLY_TO_MAX:
        return f"is longer than {REPLY_TO_MAX} characters"
    if "\r" in value or "\n" in value:
        return "contains a line break"
    addresses = getaddresses([value])
    if len(addresses) != 1:
        return "must be one address"
    try:
        # ASCII only: an internationalised address needs SMTPUTF8, which not every server has.
        validate_email(addresses[0][1], check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return "is not an ASCII email address"
    return None


def requester_reply_to() -> str | None:
    """Where a requester's reply to their acknowledgement goes: the foundation's MAIL_REPLY_TO,
    not the sender, which may be a no-reply address. None (no Reply-To) while it is unset."""
    return (current_app.config.get("MAIL_REPLY_TO") or "").strip() or None


@dataclass(frozen=True)
class Draft:
    """An email composed but not yet queued: what the outbox row holds besides its Message-ID,
    its inquiry and its delivery state."""

    kind: EmailKind
    to_address: str
    subject: str
    body_text: str
    language: str = "en"
    reply_to: str | None = None


def new_message_id(kind: EmailKind) -> str:
    """A Message-ID no other email has (outbound_emails.message_id is unique)."""
    # make_msgid's own uniqueness is the time in hundredths of a second, the process id and
    # the `random` module, which a test library may seed alike for every example (and two
    # posts can come within one hundredth): 64 bits from the OS make it unique regardless.
    return make_msgid(idstring=f"{kind.value}.{secrets.token_hex(8)}", domain=_message_domain())


def _email_values(draft: Draft) -> dict[str, object]:
    """The outbox row's own values for ``draft``: one home for both ways of queueing it."""
    kind = EmailKind(draft.kind)  # a kind the outbox does not know fails here, not at the insert
    return {
        "message_id": new_message_id(kind),
        "kind": kind,
        "to_address": draft.to_address,
        "subject": draft.subject,
        "body_text": draft.body_text,
        "language": draft.language,
        # Stored with the message rather than read when it is sent: a retry or an admin's
        # re-send goes out as it was queued (as its Message-ID and Date do), whatever the
        # setting says by then, and the outbox page shows where a reply will go.
        "reply_to": draft.reply_to,
        "next_attempt_at": utcnow(),
    }


def render_email(template: str, **context: object) -> str:
    """An email's body from its template (templates/email/), rendered with the app's Jinja
    environment alone, which has its filters and gettext. Flask's render_template would first
    run every context processor, and those serve pages (the page's language links, the
    signed-in user, the CSRF token): no email uses them, and a Get in Touch post renders two."""
    return current_app.jinja_env.get_template(template).render(context)


def _queued_line(values: dict[str, object]) -> tuple[str, dict[str, object]]:
    """The timeline's EMAIL_QUEUED line for an outbox row: (detail, data)."""
    kind, to_address = values["kind"], values["to_address"]
    detail = email_line(kind, "queued for", to_address)  # type: ignore[arg-type]
    return detail, {"message_id": values["message_id"], "kind": kind.value, "to": to_address}  # type: ignore[union-attr]


def queue_email(
    *,
    kind: EmailKind,
    to_address: str,
    subject: str,
    body_text: str,
    language: str = "en",
    inquiry: Inquiry | None = None,
    reply_to: str | None = None,
) -> OutboundEmail:
    draft = Draft(kind, to_address, subject, body_text, language, reply_to)
    return queue_draft(draft, inquiry)


def queue_draft(draft: Draft, inquiry: Inquiry | None = None) -> OutboundEmail:
    values = _email_values(draft)
    email = OutboundEmail(**values, inquiry=inquiry)
    db.session.add(email)
    if inquiry is not None:
        detail, data = _queued_line(values)
        add_event(inquiry, InquiryEventKind.EMAIL_QUEUED, detail=detail, data=data)
    return email


def insert_drafts(inquiry_id: int, drafts: list[Draft | None]) -> list[dict[str, object]]:
    """Queue the emails about an inquiry just inserted, in one statement and without objects
    (crm.audit.insert_rows); returns their timeline lines, as crm.models.inquiry.event_row
    values, for the caller to write with the rest of the timeline."""
    rows = [{**_email_values(draft), "inquiry_id": inquiry_id} for draft in drafts if draft is not None]
    audit.insert_rows(OutboundEmail, rows)
    now = utcnow()
    lines = []
    for values in rows:
        detail, data = _queued_line(values)
        lines.append(event_row(inquiry_id, InquiryEventKind.EMAIL_QUEUED, occurred_at=now, detail=detail, data=data))
    return lines


def already_queued(inquiry: Inquiry) -> set[tuple[str, str]]:
    """(kind, address in lower case) of every email ever queued about the inquiry, sent or not."""
    rows = db.session.execute(
        select(OutboundEmail.kind, OutboundEmail.to_address).where(OutboundEmail.inquiry_id == inquiry.id)
    )
    return {(kind, address.lower()) for kind, address in rows}


def queue_contact_notice(
    inquiry: Inquiry, contact: Contact, *, reason: str = "new", accept_url: str | None = None
) -> OutboundEmail | None:
    """Tell the assigned contact there is an inquiry for them, with ``accept_url`` (a signed
    link, crm.inquiries.accept_links) when it waits for them to accept it."""
    draft = contact_notice(inquiry, contact, reason=reason, accept_url=accept_url)
    return queue_draft(draft, inquiry) if draft is not None else None


def contact_notice(
    inquiry: Inquiry, contact: Contact, *, reason: str = "new", accept_url: str | None = None
) -> Draft | None:
    """The notice queue_contact_notice sends; None for a contact without an email address.
    The message text stays behind login: it can be about a pregnancy or a loss, and email is
    not the place for it."""
    if not contact.email:
        return None
    # Contacts read staff mail in English; the requester's language is stated in the body.
    with force_locale("en"):
        body = render_email(
            "email/contact_notice.txt",
            inquiry=inquiry,
            contact=contact,
            url=inquiry_url(inquiry),
            reason=reason,
            accept_url=accept_url,
            timezone=display_timezone(),  # the zone the |datetime filter shows times in
        )
    subject = (
        f"Inquiry {inquiry.reference} was reassigned to you"
        if reason == "reassigned"
        else f"New inquiry {inquiry.reference} for you"
    )
    return Draft(
        kind=EmailKind.CONTACT_NOTICE if reason == "new" else EmailKind.REASSIGNED_NOTICE,
        to_address=contact.email,
        subject=subject,
        body_text=body,
        language="en",
    )


def queue_requester_acknowledgement(inquiry: Inquiry, organisation_name: str | LazyString) -> OutboundEmail | None:
    """The "we received your message" email (requester_acknowledgement), queued."""
    draft = requester_acknowledgement(inquiry, organisation_name)
    return queue_draft(draft, inquiry) if draft is not None else None


def requester_acknowledgement(inquiry: Inquiry, organisation_name: str | LazyString) -> Draft | None:
    """The "we received your message" email; None without an email address (a lazy
    `organisation_name` is read in the family's language). It is the one
    email with a Reply-To: a family who answers it reaches the foundation. Staff notices,
    reminders and escalations have none: their readers answer inside the app, and a reply by
    email would carry an inquiry's details into a mailbox, where they must not go."""
    if not inquiry.email:
        return None
    with force_locale(inquiry.language):
        subject = gettext("We received your message (reference %(reference)s)", reference=inquiry.reference)
        body = render_email(
            "email/requester_ack.txt",
            inquiry=inquiry,
            organisation_name=organisation_name,
            opt_out_url=opt_out_url(inquiry.email, inquiry.language),
        )
    return Draft(
        kind=EmailKind.REQUESTER_ACK,
        to_address=inquiry.email,
        subject=subject,
        body_text=body,
        language=inquiry.language,
        reply_to=requester_reply_to(),
    )
