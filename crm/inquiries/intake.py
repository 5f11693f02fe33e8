"""Receive an inquiry: store it, route it and queue its emails, all in one transaction."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Insert, Select, String, Table, and_, bindparam, exists, false, func, insert, inspect, or_, select

from crm import audit
from crm.business_hours import add_business_hours
from crm.extensions import db
from crm.geography.zip_lookup import ZipPlace
from crm.holidays import calendars
from crm.inquiries import accept_links
from crm.inquiries.held_checks import held_repeat_or_taken, held_repeated_by, holding
from crm.mail.outbox import (
    CONTACT_NOTICE_KINDS,
    already_queued,
    contact_notice,
    insert_drafts,
    queue_contact_notice,
    queue_requester_acknowledgement,
    requester_acknowledgement,
)
from crm.models import (
    Contact,
    ContactPreference,
    HeldPost,
    Inquiry,
    InquiryEvent,
    InquiryEventKind,
    InquirySource,
    Topic,
    User,
)
from crm.models.inquiry import add_event, event_row
from crm.models.inquiry_status import InquiryStatus, status_after_assignment
from crm.routing import services as routing

INITIATIVE_NAME = "Infant Mortality Reduction Initiative"
# The same name as a family reads it, in their language: their acknowledgement, the thank-you page.
INITIATIVE_NAME_TRANSLATED = _l("Infant Mortality Reduction Initiative")

# Business hours a contact has to accept an inquiry without a topic (a topic sets its own).
DEFAULT_ACCEPTANCE_HOURS = 4

# Crockford's base 32 without look-alikes, so a reference can be read over the phone.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class InquiryDetails:
    name: str
    email: str
    phone: str
    zip_code: str
    topic: Topic | None
    language: str
    message: str
    consent: bool
    source: InquirySource = InquirySource.WEB
    contact_preference: ContactPreference = ContactPreference.EMAIL


@dataclass(frozen=True)
class Received:
    inquiry: Inquiry
    duplicate: bool


@dataclass(frozen=True)
class RepeatsHeld:
    """take_in's answer, with its ``held`` check, to a send that repeats a send still held:
    nothing was stored, and the sender is thanked as that held send, under its reference."""

    held: HeldPost


def random_reference() -> str:
    """A reference not yet checked against those in use (take_in checks it)."""
    return "IM-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


def new_reference() -> str:
    while True:
        reference = random_reference()
        if db.session.scalar(select(Inquiry.id).where(Inquiry.reference == reference)) is None:
            return reference


def sender_identity(email: str, phone: str) -> str:
    """Who sent a request: the email address, or, for a family who gave none (a call or a
    text asked for), the digits of their phone number ("tel:..."). Empty when neither is given."""
    if email.strip():
        return email.strip().lower()
    digits = "".join(char for char in phone if char.isdigit())
    return "tel:" + digits if digits else ""


def dedupe_key(email: str, message: str, phone: str = "") -> str:
    """The same requester (sender_identity) and message. Empty when neither address nor phone is given."""
    who = sender_identity(email, phone)
    if not who:
        return ""
    normalised = who + "\n" + " ".join(message.split()).casefold()
    return hashlib.sha256(normalised.encode()).hexdigest()


def set_due(inquiry: Inquiry) -> None:
    """Set when the first response is due, by the holiday calendar of the organisation the
    inquiry is with: call it again whenever that organisation changes."""
    inquiry.due_at = calendars.due_at(inquiry)


def window_start(now: datetime) -> datetime:
    return now - timedelta(minutes=current_app.config["DUPLICATE_WINDOW_MINUTES"])


def repeated_by(key: str, since: datetime, *, spam: bool, until: Any = None):
    """The inquiries a send with this dedupe key repeats: the same sender and words since
    ``since`` (and, given ``until``, received by then). A send not taken for spam repeats no
    spam: a family whose first send was taken for a bot's (sent too fast, say) and who sends it
    again must not see it swallowed as well."""
    repeats = and_(Inquiry.dedupe_key == key, Inquiry.received_at >= since)
    if until is not None:
        repeats = and_(repeats, Inquiry.received_at <= until)
    return repeats if spam else and_(repeats, Inquiry.status != InquiryStatus.SPAM)


def recent_duplicate(key: str, now: datetime, *, spam: bool = False) -> Inquiry | None:
    return db.session.scalar(
        select(Inquiry).where(repeated_by(key, window_start(now), spam=spam)).order_by(Inquiry.id).limit(1)
    )


@cache
def _duplicate_or_taken_statement(*, with_key: bool, spam: bool, only_earlier: bool = False) -> Select:
    """Built once per process for each case: a statement object keeps its cache key, which
    SQLAlchemy would otherwise work out again at every post."""
    until = bindparam("until") if only_earlier else None
    repeats = repeated_by(bindparam("key"), bindparam("since"), spam=spam, until=until) if with_key else false()
    # The earliest duplicate is among the first two rows: the other can only be the reference's.
    return (
        select(Inquiry, repeats.label("repeats"))
        .where(or_(Inquiry.reference == bindparam("reference"), repeats))
        .order_by(Inquiry.id)
        .limit(2)
    )


def duplicate_or_taken(
    key: str, reference: str, now: datetime, *, spam: bool = False, only_earlier: bool = False
) -> tuple[Inquiry | None, bool]:
    """In one statement: the first inquiry this send repeats within the window (None without
    a key or such an inquiry; repeated_by; ``only_earlier``: received by ``now``), and whether
    ``reference`` is in use already."""
    parameters = {"reference": reference, "key": key, "since": window_start(now), "until": now}
    statement = _duplicate_or_taken_statement(with_key=bool(key), spam=spam, only_earlier=only_earlier)
    rows = db.session.execute(statement, parameters).all()
    duplicate = next((row.Inquiry for row in rows if row.repeats), None)
    return duplicate, any(row.Inquiry.reference == reference for row in rows)


@cache
def insert_unless_taken(
    table: Table,
    names: tuple[str, ...],
    *,
    keyed: bool,
    spam: bool,
    repeats_too: Callable[..., Any] | None = None,
    taken_too: Callable[[Any], Any] | None = None,
    only_earlier: bool = False,
) -> Insert:
    """INSERT of one row of ``table`` into its columns ``names``, each value its parameter
    (crm.audit.new_parameter), returning its id; or nothing, refused, when its ``reference`` is an
    inquiry's already (``taken_too(reference)`` says where else it may be in use) or, ``keyed``,
    when it repeats an inquiry since the parameter ``since`` (repeated_by; ``only_earlier``:
    one received by the parameter ``until``; ``repeats_too(key, since, spam=...)`` says what
    else it may repeat). One statement that reads nothing beforehand, built once per process
    for each shape: a new inquiry's (take_in, with or without its held check, or filing a held
    send) and a held send's (crm.inquiries.held_posts)."""
    values = {name: bindparam(audit.new_parameter(name), type_=table.c[name].type) for name in names}
    refused = exists().where(Inquiry.reference == values["reference"])
    if taken_too is not None:
        refused = or_(refused, exists().where(taken_too(values["reference"])))
    if keyed:
        key, since = values["dedupe_key"], bindparam("since", type_=table.c.received_at.type)
        until = bindparam("until", type_=table.c.received_at.type) if only_earlier else None
        repeats = [exists().where(repeated_by(key, since, spam=spam, until=until))]
        if repeats_too is not None:
            repeats.append(exists().where(repeats_too(key, since, spam=spam)))
        refused = or_(refused, *repeats)
    return insert(table).from_select(list(names), select(*values.values()).where(~refused)).returning(table.c.id)


def receive(
    details: InquiryDetails,
    now: datetime,
    *,
    spam_reason: str = "",
    actor: User | None = None,
    assign_to: Contact | None = None,
) -> Received:
    """Store a new inquiry; route it and queue the two emails unless it looks like spam.

    Without consent it stays with the foundation (see rules_outcome). ``assign_to`` (staff
    logging an inquiry) replaces the rules with a person's choice; the caller checks that a
    choice made without consent is someone at the foundation. The same email and message
    within the duplicate window returns the first inquiry.
    """
    received = take_in(details, now, spam_reason=spam_reason, actor=actor, assign_to=assign_to)
    if not received.duplicate:
        audit.commit(actor)
    return received


def take_in(
    details: InquiryDetails,
    now: datetime,
    *,
    spam_reason: str = "",
    actor: User | None = None,
    assign_to: Contact | None = None,
    reference: str | None = None,
    check_held: bool = False,
    only_earlier: bool = False,
) -> Received | RepeatsHeld:
    """All of `receive` but the commit, for a caller that has more to work out before it
    commits (the public form's confirmation). ``reference`` is a reference the caller chose
    beforehand (random_reference, or new_reference); by default one is chosen here. With
    ``check_held`` (the public form's routed sends), a send that repeats a send still held is
    that send (RepeatsHeld), and a reference a held send holds is not given out again: the
    family was shown that reference, and the job files the held send under it later. Not the
    default: the job files a held send through here while its held row is still there. With
    ``only_earlier`` (a held send filed later, received ``now``), it repeats only inquiries
    received by then, as had it been routed when it came: one routed meanwhile (the same words
    not taken for spam, after a send held as spam) must not leave its reference naming nothing."""
    key = dedupe_key(details.email, details.message, details.phone)
    inquiry = new_inquiry(details, reference or random_reference(), now, key, actor=actor)
    actor_id = actor.id if actor is not None else None
    # Inserted as values, not flushed (_insert_new): the keys the relationships would give.
    inquiry.topic_id = details.topic.id if details.topic is not None else None
    inquiry.logged_by_id = actor_id
    received_how = details.source.label if actor is None else f"{details.source.label}, logged by {actor.name}"
    # The timeline's lines, written after the inquiry (they need its id), all in one statement.
    lines = [(InquiryEventKind.RECEIVED, f"Received ({received_how})", actor_id, {})]

    if spam_reason:
        inquiry.status = InquiryStatus.SPAM
        inquiry.spam_reason = spam_reason[:200]
        lines.append((InquiryEventKind.STATUS_CHANGED, f"Marked as spam: {spam_reason}", None, {}))
        earlier = _insert_unless_repeated(inquiry, now, spam=True, check_held=check_held, only_earlier=only_earlier)
        if earlier is not None:
            return _repeating(earlier)
        _write_timeline(inquiry, now, lines, drafts=[])
        return Received(inquiry=inquiry, duplicate=False)

    # Routing reads before anything is written, so that the inquiry is inserted once, with
    # where it goes, rather than inserted and then updated.
    contact: Contact | None = None
    with db.session.no_autoflush:
        try:
            if assign_to is not None:
                outcome = routing.decided_by_hand(details.zip_code, assign_to, actor.name)
            else:
                outcome = rules_outcome(inquiry, now)
        except routing.NoFallbackContact as error:
            # A misconfigured rule set must not lose a request: keep it new, in every staff
            # inbox, and still acknowledge the requester.
            set_place(inquiry, routing.place_of(details.zip_code))
            inquiry.routing_reason = f"Not routed: {error}"
            set_due(inquiry)
            lines.append((InquiryEventKind.ROUTED, inquiry.routing_reason, None, {}))
        else:
            contact = apply_route(inquiry, outcome, now)
            routed = {"contact_id": contact.id, "rule_id": inquiry.routing_rule_id}
            lines.append((InquiryEventKind.ROUTED, outcome.decision.reason, actor_id, routed))
    # The emails' links need its id. A send that repeats an earlier one is only found now: it
    # is routed for nothing, and rarely; every other send is spared a statement.
    earlier = _insert_unless_repeated(inquiry, now, spam=False, check_held=check_held, only_earlier=only_earlier)
    if earlier is not None:
        return _repeating(earlier)
    if contact is None:
        drafts = [requester_acknowledgement(inquiry, INITIATIVE_NAME_TRANSLATED)]
    else:
        accept_url = accept_links.url_for_contact(inquiry.id, contact.id)
        drafts = [
            contact_notice(inquiry, contact, accept_url=accept_url),
            requester_acknowledgement(inquiry, answering_name(contact)),
        ]
    _write_timeline(inquiry, now, lines, drafts=drafts)
    if contact is not None:
        routing.take_turn(contact, now)  # the last write: it holds the contact's row (take_turn)
    return Received(inquiry=inquiry, duplicate=False)


def new_inquiry(
    details: InquiryDetails, reference: str, received_at: datetime, key: str, *, actor: User | None = None
) -> Inquiry:
    """A new inquiry holding what was sent, not yet routed nor stored: one home for take_in
    and for a held send filed for routing by hand (crm.inquiries.held_posts)."""
    return Inquiry(
        reference=reference,
        received_at=received_at,
        source=details.source,
        name=details.name,
        email=details.email,
        phone=details.phone,
        contact_preference=details.contact_preference,
        zip_code=details.zip_code,
        topic=details.topic,
        language=details.language,
        message=details.message,
        consent=details.consent,
        dedupe_key=key,
        logged_by=actor,
        status=InquiryStatus.NEW,
    )


# The first key of the advisory lock wait_for_the_same_words takes: its own among PostgreSQL's
# advisory locks (the second is the hash of a dedupe key).
SAME_WORDS_LOCK = 1_170_001


@cache
def _same_words_lock_statement() -> Select:
    return select(func.pg_advisory_xact_lock(SAME_WORDS_LOCK, func.hashtext(bindparam("key", type_=String()))))


def wait_for_the_same_words(key: str) -> None:
    """PostgreSQL: wait while another transaction stores a send with the same dedupe key, and
    keep the next one waiting until this one ends (an advisory lock, released with the
    transaction).

    The INSERT that refuses a repeat (insert_unless_taken) cannot see a row not yet committed:
    two sends of the same words at once (a double click on the form) would both be stored, and
    routed, maybe to two contacts. Taken by a statement of its own, before that INSERT, whose
    snapshot then holds the other send's row (READ COMMITTED takes one per statement). SQLite
    lets one transaction write at a time. A send without a key (nobody to tell apart) has
    nothing to wait for."""
    if key and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(_same_words_lock_statement(), {"key": key})


def _repeating(earlier: Inquiry | HeldPost) -> Received | RepeatsHeld:
    return RepeatsHeld(held=earlier) if isinstance(earlier, HeldPost) else Received(inquiry=earlier, duplicate=True)


def _insert_unless_repeated(
    inquiry: Inquiry, now: datetime, *, spam: bool, check_held: bool = False, only_earlier: bool = False
) -> Inquiry | HeldPost | None:
    """Insert a new inquiry (_insert_new), unless it repeats an earlier one within the duplicate
    window (repeated_by), or, with ``check_held``, a send still held: that inquiry or held
    send then, and nothing is written. A reference found in use is replaced by a new one."""
    wait_for_the_same_words(inquiry.dedupe_key)
    until = now if only_earlier else None
    while not _insert_new(inquiry, window_start(now), spam=spam, check_held=check_held, until=until):
        # Refused: read why, which is rare. Neither (the other row was rolled back meanwhile): try again.
        key, reference = inquiry.dedupe_key, inquiry.reference
        earlier, taken = duplicate_or_taken(key, reference, now, spam=spam, only_earlier=only_earlier)
        if earlier is not None:
            return earlier
        if check_held and not taken:
            # Refused by no inquiry: by a held send, unless that too is gone meanwhile.
            held_earlier, taken = held_repeat_or_taken(key, reference, window_start(now), spam=spam)
            if held_earlier is not None:
                return held_earlier
        if taken:
            inquiry.reference = new_reference()
    return None


def _insert_new(
    inquiry: Inquiry, since: datetime, *, spam: bool, check_held: bool = False, until: datetime | None = None
) -> bool:
    """Insert a new inquiry in one statement (crm.audit.insert_rows) rather than by the unit of
    work, unless its reference is in use or it repeats an inquiry since ``since`` (and by
    ``until``, given), or, with ``check_held``, a held send holds its reference or it repeats one
    (insert_unless_taken), and take it into the session as stored (crm.audit.take_in_inserted);
    False when refused."""
    mapper = inspect(Inquiry)
    values = {attribute.key: inquiry.__dict__[attribute.key] for attribute in mapper.column_attrs if attribute.key in inquiry.__dict__}

    def statement(names: tuple[str, ...]) -> Insert:
        return insert_unless_taken(
            Inquiry.__table__,
            names,
            keyed=bool(inquiry.dedupe_key),
            spam=spam,
            repeats_too=held_repeated_by if check_held else None,
            taken_too=holding if check_held else None,
            only_earlier=until is not None,
        )

    ids = audit.insert_rows(
        Inquiry, [values], filled=lambda name, value: setattr(inquiry, name, value), unless=(statement, {"since": since, "until": until})
    )
    if not ids:
        return False
    [inquiry.id] = ids
    audit.take_in_inserted(inquiry)
    return True


def _write_timeline(
    inquiry: Inquiry, now: datetime, lines: list[tuple[InquiryEventKind, str, int | None, dict]], *, drafts: list
) -> None:
    """Queue a new inquiry's emails and write its timeline (``lines``, then a line per email),
    a statement each, without ORM objects: nothing reads them back before the commit."""
    rows = [
        event_row(inquiry.id, kind, occurred_at=now, detail=detail, actor_id=actor_id, data=data)
        for kind, detail, actor_id, data in lines
    ]
    rows += insert_drafts(inquiry.id, drafts)
    audit.insert_rows(InquiryEvent, rows)


def rules_outcome(inquiry: Inquiry, now: datetime) -> routing.RoutingOutcome:
    """Where the routing rules send the inquiry. The public form cannot be sent without consent,
    but staff log requests from people who want the foundation's help and do not want their
    details passed on: those go to the foundation's fallback contact, never to a partner."""
    if not inquiry.consent:
        return routing.kept_with_foundation(inquiry.zip_code)
    return routing.decide(inquiry.zip_code, inquiry.topic, inquiry.language, now)


def set_place(inquiry: Inquiry, place: ZipPlace | None) -> None:
    if place is None:
        return
    inquiry.state = place.state
    # Only counties we keep records for; another state's county stays unrecorded.
    if place.county_fips and place.county_fips in routing.known_counties():
        inquiry.county_fips = place.county_fips


def start_acceptance_clock(inquiry: Inquiry, now: datetime) -> None:
    """The inquiry now waits for its (new) contact to accept it, for its topic's acceptance
    window in business hours of the calendar of the organisation it is with."""
    inquiry.accepted_at = None
    inquiry.accepted_by = None
    inquiry.accepted_after_hours = None
    hours = inquiry.topic.acceptance_hours if inquiry.topic else DEFAULT_ACCEPTANCE_HOURS
    inquiry.acceptance_due_at = add_business_hours(now, hours, calendars.calendar_for(inquiry.organisation_id))


def apply_route(inquiry: Inquiry, outcome: routing.RoutingOutcome, now: datetime) -> Contact:
    """Store where the routing sent the inquiry and start its clocks; nothing on the timeline,
    no email, no flush, and the contact's turn is the caller's (routing.take_turn)."""
    set_place(inquiry, outcome.place)
    contact = routing.apply_decision(inquiry, outcome, now)
    inquiry.status = status_after_assignment(inquiry.status)
    set_due(inquiry)
    start_acceptance_clock(inquiry, now)
    return contact


def place_with_contact(inquiry: Inquiry, outcome: routing.RoutingOutcome, now: datetime, actor: User | None) -> Contact:
    """Store where the routing sent the inquiry, start its clocks and put it on the timeline;
    no email (the caller decides who is told)."""
    contact = apply_route(inquiry, outcome, now)
    # Recovered spam comes through here too, with a timeline that need not be loaded.
    add_event(
        inquiry,
        InquiryEventKind.ROUTED,
        occurred_at=now,
        actor=actor,
        detail=outcome.decision.reason,
        data={"contact_id": contact.id, "rule_id": inquiry.routing_rule_id},
    )
    db.session.flush()  # the emails need the inquiry's id for their link
    routing.take_turn(contact, now)
    return contact


def answering_name(contact: Contact) -> str:
    """Who the acknowledgement says will answer: the contact's organisation, or the contact."""
    return contact.organisation.name if contact.organisation else contact.name


def queue_notice_to_accept(inquiry: Inquiry, contact: Contact, *, reason: str = "new") -> None:
    """The usual notice, with the link to accept the inquiry."""
    queue_contact_notice(
        inquiry, contact, reason=reason, accept_url=accept_links.url_for_contact(inquiry.id, contact.id)
    )


def route_to_contact(inquiry: Inquiry, outcome: routing.RoutingOutcome, now: datetime, actor: User | None) -> None:
    stored_before = inspect(inquiry).has_identity
    contact = place_with_contact(inquiry, outcome, now, actor)
    # Recovered spam may have been routed and acknowledged before it was marked: tell only
    # whoever has not been told, so nobody gets the same email twice. A new inquiry has no email yet.
    queued = already_queued(inquiry) if stored_before else set()
    if not any((kind, contact.email.lower()) in queued for kind in CONTACT_NOTICE_KINDS):
        queue_notice_to_accept(inquiry, contact)
    if not any(kind == "requester_ack" for kind, _address in queued):
        queue_requester_acknowledgement(inquiry, answering_name(contact))
