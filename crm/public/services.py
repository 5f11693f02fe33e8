"""What the public pages read and the one thing they write: a new inquiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from sqlalchemy import inspect, select
from sqlalchemy.orm import selectinload

from crm import audit
from crm.database import as_read
from crm.extensions import db
from crm.inquiries.held_posts import earlier_send, held_with_reference, insert_unless_in_use
from crm.inquiries.intake import (
    INITIATIVE_NAME,
    INITIATIVE_NAME_TRANSLATED,
    InquiryDetails,
    RepeatsHeld,
    dedupe_key,
    random_reference,
    take_in,
    wait_for_the_same_words,
    window_start,
)
from crm.languages import CODES
from crm.models import (
    ContactPreference,
    HeldPost,
    Inquiry,
    InquirySource,
    Organisation,
    OrganisationKind,
    RecordStatus,
    Topic,
)
from crm.public import admission
from crm.public.forms import InquiryForm
from crm.reference_cache import cached
from crm.routing import services as routing


@dataclass(frozen=True)
class PublicContact:
    name: str
    title: str
    email: str
    phone: str


@dataclass(frozen=True)
class Partner:
    name: str
    description: str
    # The language `description` is written in, which may not be the page's (see description_for).
    description_language: str
    website: str
    contacts: tuple[PublicContact, ...]


@dataclass(frozen=True)
class Confirmation:
    """What the thank-you page shows; kept in the session, never in the URL.

    ``emailed`` says whether an acknowledgement went to an email address: without one (a
    family who asked for a call or a text and gave no email), the page itself is the
    acknowledgement, to print or write down."""

    reference: str
    organisation: str
    preference: ContactPreference = ContactPreference.EMAIL
    emailed: bool = True

    @property
    def organisation_shown(self) -> str:
        """Who will answer, as the page names them: the initiative in the page's language."""
        return str(INITIATIVE_NAME_TRANSLATED) if self.organisation == INITIATIVE_NAME else self.organisation

    def to_session(self) -> dict[str, str | bool]:
        return {
            "reference": self.reference,
            "organisation": self.organisation,
            "preference": self.preference.value,
            "emailed": self.emailed,
        }

    @classmethod
    def from_session(cls, data: object) -> Confirmation | None:
        if not isinstance(data, dict):
            return None
        reference, organisation = data.get("reference"), data.get("organisation")
        if not isinstance(reference, str) or not isinstance(organisation, str):
            return None
        # A session written before these were kept: the form then always asked for an email.
        emailed = data.get("emailed", True)
        try:
            preference = ContactPreference(data.get("preference", ContactPreference.EMAIL.value))
        except ValueError:
            preference = ContactPreference.EMAIL
        return cls(reference=reference, organisation=organisation, preference=preference, emailed=emailed is not False)


def description_for(english: str, spanish: str, language: str) -> tuple[str, str]:
    """An organisation's description for a page in `language`, and the language it is in.

    A Spanish page shows the Spanish description; without one it shows the English one, which
    the page then marks as English so that screen readers pronounce it as English. An English
    page always shows the English one.
    """
    if language == "es" and spanish.strip():
        return spanish, "es"
    return english, "en"


def backbone_partners(language: str) -> list[Partner]:
    """Active backbone organisations, described in `language` where they can be, and the
    contacts they chose to show the public."""
    organisations = db.session.scalars(
        select(Organisation)
        .options(selectinload(Organisation.contacts))
        .where(Organisation.kind == OrganisationKind.BACKBONE, Organisation.status == RecordStatus.ACTIVE)
        .order_by(Organisation.name)
    )
    return [_partner(organisation, language) for organisation in organisations]


def _partner(organisation: Organisation, language: str) -> Partner:
    description, description_language = description_for(organisation.description, organisation.description_es, language)
    return Partner(
        name=organisation.name,
        description=description,
        description_language=description_language,
        website=organisation.website,
        contacts=tuple(
            PublicContact(name=contact.name, title=contact.title, email=contact.email, phone=contact.phone)
            for contact in organisation.contacts
            if contact.show_on_public_page and contact.active
        ),
    )


def active_topics() -> list[Topic]:
    return list(
        db.session.scalars(select(Topic).where(Topic.active.is_(True)).order_by(Topic.sort_order, Topic.id))
    )


def topic_choices(topics: list[Topic], language: str) -> list[tuple[int, str]]:
    return [(topic.id, topic.name_in(language)) for topic in topics]


def _load_public_topics() -> dict[str, tuple[tuple[int, str], ...]]:
    topics = active_topics()
    return {language: tuple(topic_choices(topics, language)) for language in CODES}


def public_topic_choices(language: str) -> list[tuple[int, str]]:
    """The topics the form offers, named in ``language`` (kept for a while: crm.reference_cache)."""
    by_language = cached("public-topics", _load_public_topics)
    return list(by_language.get(language, by_language["en"]))


class PostedFields(TypedDict):
    """What the form's send carries, as inquiry_details and a HeldPost take it."""

    name: str
    email: str
    phone: str
    contact_preference: ContactPreference
    zip_code: str
    topic_id: int | None
    language: str
    message: str


def posted_fields(form: InquiryForm) -> PostedFields:
    """What a validated Get in Touch form carries: the form's and the JSON API's sends."""
    return PostedFields(
        name=form.name.data,
        email=form.email.data or "",
        phone=form.phone.data or "",
        contact_preference=form.preference,
        zip_code=form.zip_code.data,
        topic_id=form.topic.data,
        language=form.language.data,
        message=form.message.data,
    )


def _load_topic_values() -> dict[int, dict[str, object]]:
    columns = [attribute.key for attribute in inspect(Topic).column_attrs]
    rows = db.session.execute(select(*(getattr(Topic, name) for name in columns)))
    return {row.id: dict(zip(columns, row, strict=True)) for row in rows}


def known_topic(topic_id: int) -> Topic | None:
    """The topic, in this session, from the values this process keeps (crm.reference_cache)
    rather than read again: a post names one and needs it for routing and its emails."""
    values = cached("topic-values", _load_topic_values).get(topic_id)
    if values is None:
        return db.session.get(Topic, topic_id)
    return as_read(db.session, Topic, values)


def inquiry_details(
    *,
    name: str,
    email: str,
    phone: str,
    zip_code: str,
    topic_id: int | None,
    language: str,
    message: str,
    contact_preference: ContactPreference = ContactPreference.EMAIL,
) -> InquiryDetails:
    topic = known_topic(topic_id) if topic_id is not None else None
    return InquiryDetails(
        name=name,
        email=email or "",
        phone=phone or "",
        contact_preference=contact_preference,
        zip_code=zip_code,
        topic=topic,
        language=language,
        message=message,
        consent=True,  # the form does not validate without it
        source=InquirySource.WEB,
    )


def send_inquiry(
    details: InquiryDetails, now: datetime, *, spam_reason: str = "", reference: str | None = None
) -> Confirmation:
    """Store the inquiry (routed and acknowledged, or kept as spam) and say what to tell the sender.

    The same email and message within the duplicate window give the first inquiry's
    confirmation again, or the first send's while it is still held (it is filed under the
    reference it was thanked with, which a send routed meanwhile must not take). Spam gets a
    confirmation that looks like any other, naming the organisation that would have answered:
    the sender is not told it was caught.

    The confirmation is worked out before the commit, so that once the inquiry is stored
    nothing can fail the send: a family whose message was kept is never told it was not.
    """
    received = take_in(details, now, spam_reason=spam_reason, reference=reference, check_held=True)
    if isinstance(received, RepeatsHeld):
        return held_confirmation(received.held.reference, received.held)
    confirmation = confirmation_for(received.inquiry, now)
    if not received.duplicate:
        audit.commit(None)
    return confirmation


@dataclass
class Sending:
    """One send of the form, which may take two attempts when the database connection is
    lost (crm.outage.retry_once_if_connection_lost).

    The reference is chosen once, by the first attempt that gets that far. A connection lost
    during the COMMIT leaves unknown whether the inquiry was stored, so a later attempt
    looks its reference up first and confirms what it finds, instead of storing it twice
    (the duplicate check on email and message would find it too, within its window).
    """

    now: datetime
    reference: str | None = None

    def send(self, details: InquiryDetails, *, spam_reason: str = "") -> Confirmation:
        if self.reference is None:
            # Checked against the references in use by the duplicate check's statement (take_in).
            self.reference = random_reference()
        else:
            stored = db.session.scalar(select(Inquiry).where(Inquiry.reference == self.reference))
            # Another inquiry's, had the reference been in use when the first attempt checked it.
            if stored is not None and (stored.name, stored.message) == (details.name, details.message):
                return confirmation_for(stored, self.now)
        return send_inquiry(details, self.now, spam_reason=spam_reason, reference=self.reference)


    def admit(self, fields: PostedFields, *, spam_reason: str = "") -> Confirmation:
        """The form's and the JSON API's send: spam, and sends beyond the shared routing
        budget (crm.public.admission), are held before any routing work, one insert each, so
        that a flood cannot keep a family's send waiting; the others are routed at once. Spam
        is not counted against the budget."""
        if spam_reason or not admission.within_routing_budget():
            return self.hold(fields, spam_reason=spam_reason)
        return self.send(inquiry_details(**fields), spam_reason=spam_reason)

    def hold(self, fields: PostedFields, *, spam_reason: str = "") -> Confirmation:
        """Store the send as it came, for the job runner to file (crm.inquiries.held_posts):
        one insert, nothing routed or read, so that detected spam and sends beyond the routing
        budget cost little. Thanked like any other, naming the initiative (nothing is routed
        yet), so a sender cannot tell spam from a send held in a flood."""
        # A second attempt finds the first one's row if its COMMIT went through unanswered.
        if self.reference is not None and held_with_reference(self.reference) is not None:
            return held_confirmation(self.reference, fields)
        key = dedupe_key(fields["email"], fields["message"], fields["phone"])
        if not spam_reason:
            # A double click held twice would be filed as two inquiries. Spam stays one
            # statement: a repeat of it is never routed nor answered.
            wait_for_the_same_words(key)
        self.reference = self.reference or random_reference()
        values = {"reference": self.reference, "received_at": self.now, "spam_reason": spam_reason[:200], "dedupe_key": key, **fields}
        while not insert_unless_in_use(values, window_start(self.now)):
            # Read only when refused: the same words sent already are thanked as that send.
            earlier = earlier_send(key, self.now, spam=bool(spam_reason))
            if isinstance(earlier, Inquiry):
                return confirmation_for(earlier, self.now)
            if earlier is not None:
                return held_confirmation(earlier.reference, fields)
            self.reference = values["reference"] = random_reference()
        db.session.commit()
        return held_confirmation(self.reference, fields)


def held_confirmation(reference: str, sent: PostedFields | HeldPost) -> Confirmation:
    """The thanks for a held send (Sending.hold), or for the same words again while it is held:
    ``sent`` is what was sent, as posted or as held."""
    if isinstance(sent, HeldPost):
        preference, email = sent.contact_preference, sent.email
    else:
        preference, email = sent["contact_preference"], sent["email"]
    return Confirmation(reference=reference, organisation=INITIATIVE_NAME, preference=preference, emailed=bool(email))


def confirmation_for(inquiry: Inquiry, now: datetime) -> Confirmation:
    return Confirmation(
        reference=inquiry.reference,
        organisation=answering_organisation(inquiry, now),
        preference=inquiry.contact_preference,
        # Spam is never acknowledged, but its sender must not be able to tell (send_inquiry).
        emailed=bool(inquiry.email),
    )


def answering_organisation(inquiry: Inquiry, now: datetime) -> str:
    if inquiry.organisation is not None:
        return inquiry.organisation.name
    contact = inquiry.assigned_contact
    if contact is not None:
        return contact.organisation.name if contact.organisation else contact.name
    # Not routed (spam): name whoever routing would pick now, without changing anything.
    try:
        decision = routing.decide(inquiry.zip_code, inquiry.topic, inquiry.language, now).decision
    except routing.NoFallbackContact:
        return INITIATIVE_NAME
    return decision.organisation_name or decision.contact.name or INITIATIVE_NAME
