"""Routing end to end over the database, with the demo data: rules, contacts and intake together.

The engine's own table lives in tests/unit/test_routing_engine.py; this one checks the demo
configuration does what the issue promises, and that the database side (open counts,
round-robin memory, away windows) feeds the engine correctly.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from crm.audit import commit
from crm.demo import BOOTHEEL_BABIES, FOUNDATION, GENERATE_HEALTH, seed_demo
from crm.extensions import db
from crm.inquiries.intake import InquiryDetails, receive
from crm.models import AuditEvent, Contact, Inquiry, InquiryOutcome, Organisation, RoutingRule, Topic
from crm.models.inquiry_status import InquiryStatus
from crm.public.services import active_topics
from crm.routing import services

# A Tuesday afternoon in Missouri: inside business hours, nobody's away window is a factor by accident.
NOW = datetime(2025, 6, 3, 19, 0, tzinfo=UTC)
DANA = "Dana Whitfield"  # Bootheel Babies & Families' backup in the demo
RILEY, LUCIA, MARCUS, PAT, KEISHA, ANA, SAM, JORDAN = (
    "Riley Brooks",
    "Lucía Ramírez",
    "Marcus Hale",
    "Pat Partner",  # the demo partner user, a contact who takes inquiries too
    "Keisha Thompson",
    "Ana Morales",
    "Sam Carter",
    "Jordan Ellis",
)


@pytest.fixture
def demo(app):
    seed_demo("x" * 12)


def contact(name: str) -> Contact:
    return db.session.scalar(select(Contact).where(Contact.name == name))


def topic(name_en: str | None) -> Topic | None:
    return db.session.scalar(select(Topic).where(Topic.name_en == name_en)) if name_en else None


def where(zip_code: str, topic_name: str | None = None, language: str = "en", now: datetime = NOW) -> dict:
    return services.describe(services.decide(zip_code, topic(topic_name), language, now))


def inquire(zip_code: str, n: int, language: str = "en", topic_name: str | None = None, now: datetime = NOW):
    """A distinct inquiry through intake (distinct email and message, so dedupe keeps them apart)."""
    details = InquiryDetails(
        name=f"Requester {n}",
        email=f"requester{n}@example.com",
        phone="",
        zip_code=zip_code,
        topic=topic(topic_name),
        language=language,
        message=f"Question number {n} about support for my family.",
        consent=True,
    )
    result = receive(details, now)
    assert not result.duplicate
    return result.inquiry


# --- the demo's geography: every promised ZIP lands where the issue says ---

BOOTHEEL_ZIPS = [
    ("63857", "Kennett", "Dunklin County"),
    ("63834", "Charleston", "Mississippi County"),
    ("63869", "New Madrid", "New Madrid County"),
    ("63830", "Caruthersville", "Pemiscot County"),
    ("63801", "Sikeston", "Scott County"),
    ("63841", "Dexter", "Stoddard County"),
]


@pytest.mark.parametrize(("zip_code", "city", "county"), BOOTHEEL_ZIPS)
def test_each_bootheel_county_goes_to_bootheel_babies(demo, zip_code, city, county):
    outcome = services.decide(zip_code, None, "en", NOW)
    answer = services.describe(outcome)

    assert (outcome.place.city, answer["county"], answer["state"]) == (city, county, "MO")
    assert answer["organization"] == BOOTHEEL_BABIES
    assert answer["rule"] == "Bootheel families and partners"
    # Both English speakers there start with nothing open; the tie goes to the lower id.
    assert answer["contact"] == LUCIA
    assert answer["fallback"] is False
    assert answer["reason"].startswith(f"ZIP {zip_code} -> {county} -> Bootheel region -> rule 'Bootheel")


@pytest.mark.parametrize(
    ("zip_code", "topic_name", "language", "organization", "person", "rule"),
    [
        # St. Louis City and St. Louis County
        ("63103", None, "en", GENERATE_HEALTH, KEISHA, "St. Louis families and partners"),
        ("63105", None, "en", GENERATE_HEALTH, KEISHA, "St. Louis families and partners"),
        ("63105", "Support for my family", "es", GENERATE_HEALTH, ANA, "St. Louis families and partners"),
        # Elsewhere in Missouri, and other states: the fallback
        ("64106", None, "en", FOUNDATION, RILEY, None),
        ("65806", "Support for my family", "es", FOUNDATION, RILEY, None),
        ("62201", None, "en", FOUNDATION, RILEY, None),
        ("10001", "Other", "en", FOUNDATION, RILEY, None),
        # Topic rules come before region rules, wherever the inquiry is from
        ("63857", "Media", "en", FOUNDATION, SAM, "Media requests"),
        ("63103", "Media", "es", FOUNDATION, SAM, "Media requests"),
        ("10001", "Media", "en", FOUNDATION, SAM, "Media requests"),
        ("63830", "Grants and funding", "en", FOUNDATION, JORDAN, "Grants and funding"),
        ("64106", "Grants and funding", "es", FOUNDATION, JORDAN, "Grants and funding"),
        # Language: the Spanish speaker is chosen
        ("63857", None, "es", BOOTHEEL_BABIES, LUCIA, "Bootheel families and partners"),
        ("63103", None, "es", GENERATE_HEALTH, ANA, "St. Louis families and partners"),
    ],
)
def test_demo_routing_table(demo, zip_code, topic_name, language, organization, person, rule):
    answer = where(zip_code, topic_name, language)

    assert (answer["organization"], answer["contact"], answer["rule"]) == (organization, person, rule)
    assert answer["contact_email"] == contact(person).email
    assert answer["fallback"] is (rule is None)


@pytest.mark.parametrize(
    ("zip_code", "explanation"),
    [
        (
            "64106",
            "ZIP 64106 -> Jackson County -> not in any of our regions -> no rule matched -> fallback Riley Brooks",
        ),
        ("62201", "ZIP 62201 is in Illinois, outside our counties -> no rule matched -> fallback Riley Brooks"),
        ("10001", "ZIP 10001 is in New York, outside our counties -> no rule matched -> fallback Riley Brooks"),
    ],
)
def test_fallback_reason_says_why(demo, zip_code, explanation):
    assert where(zip_code)["reason"] == explanation


# --- language preference beats load; load and turns decide among equals ---


def test_spanish_speaker_is_chosen_even_with_more_open_inquiries(demo):
    first = inquire("63103", 1, language="es")
    assert first.assigned_contact.name == ANA

    # Ana now has one open inquiry and Keisha none, yet a Spanish speaker still goes to Ana...
    answer = where("63103", language="es")
    assert answer["contact"] == ANA
    assert "who speaks Spanish" in answer["reason"]
    # ...while an English speaker goes to Keisha, who has fewer open.
    assert where("63103", language="en")["contact"] == KEISHA


def test_spanish_in_the_bootheel_goes_to_lucia_not_to_whoever_is_next(demo):
    assert inquire("63857", 1).assigned_contact.name == LUCIA  # English: tie, lower id
    assert where("63857", language="en")["contact"] == MARCUS  # English: Marcus has fewer open
    assert where("63857", language="es")["contact"] == LUCIA  # Spanish: only Lucía speaks it


# --- availability: away windows and inactive contacts ---


def test_out_of_office_contact_is_skipped_until_back(demo):
    lucia = contact(LUCIA)
    lucia.away_from = NOW - timedelta(days=1)
    lucia.away_until = NOW + timedelta(days=2)
    commit(actor=None)

    # Nobody else there speaks Spanish: the organisation's backup takes it, and says why.
    answer = where("63857", language="es")
    assert answer["contact"] == "Dana Whitfield"
    assert answer["organization"] == BOOTHEEL_BABIES
    assert f"backup for {BOOTHEEL_BABIES}: nobody available speaks Spanish" in answer["reason"]

    # Without a backup (and Dana back to not taking inquiries), someone who does not speak
    # it is better than the fallback.
    db.session.get(Organisation, contact(LUCIA).organisation_id).backup_contact = None
    contact(DANA).accepts_inquiries = False
    commit(actor=None)
    answer = where("63857", language="es")
    assert answer["contact"] == MARCUS
    assert "among 2 contacts" in answer["reason"]  # Marcus and Pat
    assert "nobody available speaks Spanish" in answer["reason"]

    # Once she is back she is chosen again.
    assert where("63857", language="es", now=NOW + timedelta(days=2))["contact"] == LUCIA


def test_inactive_contact_is_skipped(demo):
    contact(LUCIA).active = False
    commit(actor=None)

    answer = where("63857", language="es")
    assert answer["contact"] == DANA  # the backup: nobody else there speaks Spanish
    assert "nobody available speaks Spanish" in answer["reason"]


def test_named_contact_away_falls_through_to_the_next_rule(demo):
    sam = contact(SAM)
    sam.away_from = NOW - timedelta(hours=1)
    sam.away_until = datetime(2025, 6, 10, 14, 0, tzinfo=UTC)
    commit(actor=None)

    answer = where("63857", "Media")
    assert answer["organization"] == BOOTHEEL_BABIES
    assert answer["rule"] == "Bootheel families and partners"
    assert "rule 'Media requests' skipped: Sam Carter is out of office until 2025-06-10 14:00 UTC" in answer["reason"]

    # Outside any region the next thing down is the fallback.
    answer = where("64106", "Media")
    assert answer["contact"] == RILEY
    assert "Sam Carter is out of office" in answer["reason"]
    assert answer["reason"].endswith("no matching rule could take it -> fallback Riley Brooks")


def test_organisation_with_nobody_available_goes_to_its_backup_then_the_fallback(demo):
    for name in (LUCIA, MARCUS, PAT):
        contact(name).accepts_inquiries = False
    commit(actor=None)

    answer = where("63841")
    assert answer["contact"] == DANA
    assert answer["fallback"] is False
    assert f"backup for {BOOTHEEL_BABIES}: nobody available -> {DANA}" in answer["reason"]

    # The backup away too: the foundation's fallback, and the reason says the backup was tried.
    dana = contact(DANA)
    dana.away_from, dana.away_until = NOW - timedelta(hours=1), NOW + timedelta(days=1)
    commit(actor=None)
    answer = where("63841")
    assert answer["contact"] == RILEY
    assert answer["fallback"] is True
    assert f"skipped: nobody at {BOOTHEEL_BABIES} is available; its backup is not available either" in answer["reason"]


def test_fallback_is_used_even_when_away(demo):
    riley = contact(RILEY)
    riley.away_from = NOW - timedelta(hours=1)
    commit(actor=None)

    answer = where("65806")
    assert answer["contact"] == RILEY
    assert "(used although out of office)" in answer["reason"]


def test_inactive_rule_is_not_used(demo):
    rule = db.session.scalar(select(RoutingRule).where(RoutingRule.name == "Bootheel families and partners"))
    rule.active = False
    commit(actor=None)

    assert where("63857")["contact"] == RILEY


def test_no_fallback_contact_is_an_error(demo):
    contact(RILEY).is_inquiry_fallback = False
    commit(actor=None)

    with pytest.raises(services.NoFallbackContact):
        services.decide("64106", None, "en", NOW)


def test_deciding_changes_nothing(demo):
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))

    for zip_code, _city, _county in BOOTHEEL_ZIPS:
        where(zip_code)

    assert all(person.last_assigned_at is None for person in db.session.scalars(select(Contact)))
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events
    assert not db.session.dirty
    assert not db.session.new


def test_hidden_topics_leave_the_public_list_but_still_route(demo):
    media = topic("Media")
    media.active = False
    commit(actor=None)

    assert media not in active_topics()
    assert [t.name_en for t in active_topics()] == [
        "Support for my family",
        "Partnering or volunteering",
        "Grants and funding",
        "Other",
    ]
    assert where("63857", "Media")["contact"] == SAM


# --- fairness: intake records each assignment, so the next decision sees it ---


def test_round_robin_is_fair_and_prefers_fewest_open(demo):
    minute = timedelta(minutes=1)
    inquiries = [inquire("63103", n, now=NOW + n * minute) for n in range(20)]
    names = [inquiry.assigned_contact.name for inquiry in inquiries]

    # Equal load: strictly alternating, 10 each.
    assert names == [KEISHA, ANA] * 10
    assert {inquiry.organisation.name for inquiry in inquiries} == {GENERATE_HEALTH}
    assert all(inquiry.status is InquiryStatus.ASSIGNED for inquiry in inquiries)

    # Keisha closes four of hers: she now has 6 open against Ana's 10, so she takes the next four.
    for inquiry in [i for i in inquiries if i.assigned_contact.name == KEISHA][:4]:
        inquiry.status = InquiryStatus.CLOSED
        inquiry.outcome = InquiryOutcome.NOT_NEEDED
        inquiry.closed_at = NOW + 20 * minute
    commit(actor=None)
    assert services.open_inquiry_counts() == {contact(KEISHA).id: 6, contact(ANA).id: 10}

    later = [inquire("63103", n, now=NOW + n * minute) for n in range(20, 40)]
    names = [inquiry.assigned_contact.name for inquiry in later]
    assert names[:4] == [KEISHA] * 4
    assert "fewest open inquiries" in later[0].routing_reason
    # Level again (10 open each), so turns alternate, starting with whoever waited longer.
    assert names[4:] == [ANA, KEISHA] * 8

    totals = Counter(inquiry.assigned_contact.name for inquiry in inquiries + later)
    assert totals == {KEISHA: 22, ANA: 18}
    assert services.open_inquiry_counts() == {contact(KEISHA).id: 18, contact(ANA).id: 18}
    assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 40


def test_forty_inquiries_split_evenly_between_the_two_english_speakers(demo):
    minute = timedelta(minutes=1)
    inquiries = [inquire("63103", n, now=NOW + n * minute) for n in range(40)]

    assert Counter(inquiry.assigned_contact.name for inquiry in inquiries) == {KEISHA: 20, ANA: 20}
    assert contact(ANA).last_assigned_at == NOW + 39 * minute
    assert contact(KEISHA).last_assigned_at == NOW + 38 * minute


def test_round_robin_by_turns_when_open_counts_are_equal(demo):
    # Everyone closes as they go, so open counts stay at zero and only the turn order decides.
    minute = timedelta(minutes=1)
    names = []
    for n in range(6):
        inquiry = inquire("63857", n, now=NOW + n * minute)
        names.append(inquiry.assigned_contact.name)
        inquiry.status = InquiryStatus.CLOSED
        inquiry.outcome = InquiryOutcome.NOT_NEEDED
        commit(actor=None)
    assert names == [LUCIA, MARCUS, PAT] * 2
    assert "least recently assigned" in where("63857", now=NOW + 10 * minute)["reason"]
