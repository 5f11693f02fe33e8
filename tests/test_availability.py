"""Availability in the app: who may change it, what a bad form gets, the handover, the backup."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from crm import audit
from crm.database import utcnow
from crm.demo import BOOTHEEL_BABIES, GENERATE_HEALTH, PARTNER_EMAIL, seed_demo
from crm.extensions import db
from crm.inquiries.intake import InquiryDetails, receive
from crm.models import Contact, Inquiry, InquiryEvent, InquiryEventKind, Organisation, OutboundEmail, Role, Topic
from crm.models.organisation import name_key
from crm.timezones import local_time


def today() -> date:
    """Today in the display timezone, as the availability form counts days."""
    return local_time(utcnow()).date()


def contact(name: str) -> Contact:
    return db.session.scalar(select(Contact).where(Contact.name == name))


def organisation(name: str) -> Organisation:
    return db.session.scalar(select(Organisation).where(Organisation.name_key == name_key(name)))


DEMO_PASSWORD = "x" * 12


@pytest.fixture
def demo(app):
    seed_demo(DEMO_PASSWORD)


def sign_in_as_pat(client) -> None:
    """The demo partner user: Pat Partner at Bootheel Babies & Families, a contact too."""
    response = client.post("/login", data={"email": PARTNER_EMAIL, "password": DEMO_PASSWORD})
    assert response.status_code == 302


def away_form(first: date, last: date | None, **extra) -> dict:
    return {
        "accepts_inquiries": "y",
        "languages": ["en"],
        "away_from": first.isoformat(),
        "away_until": last.isoformat() if last else "",
        "away_note": "Family leave",
        **extra,
    }


def test_partner_marks_themselves_away(demo, client, login):
    sign_in_as_pat(client)
    pat = contact("Pat Partner")

    response = client.post(f"/contacts/{pat.id}/availability", data=away_form(today(), today() + timedelta(days=6)))

    assert response.status_code == 302
    db.session.refresh(pat)
    assert pat.away_from is not None
    assert pat.away_until is not None
    assert pat.away_until - pat.away_from >= timedelta(days=6, hours=23)  # to the start of the day after
    assert pat.away_note == "Family leave"
    changes = audit.history_for("Contact", pat.id)
    assert any("away_until" in (event.changes or {}) for event in changes)


@pytest.mark.parametrize("page", ["availability", "edit"])
def test_the_forms_show_the_days_away_and_the_topics_as_saved(demo, client, login, page):
    # Saved, the last day away is kept as the start of the day after it; the forms showed that
    # day instead (and no topic ticked), so saving them again moved the return a day later
    # each time and dropped the topics.
    login(Role.STAFF)
    marcus = contact("Marcus Hale")
    topic = db.session.scalars(select(Topic).where(Topic.active.is_(True)).order_by(Topic.id)).first()
    first, last = today() + timedelta(days=10), today() + timedelta(days=14)
    saved = client.post(f"/contacts/{marcus.id}/availability", data=away_form(first, last, topics=[str(topic.id)]))
    assert saved.status_code == 302

    html = client.get(f"/contacts/{marcus.id}/{page}").get_data(as_text=True)

    assert re.search(rf'<input[^>]*name="away_from"[^>]*value="{first.isoformat()}"', html)
    assert re.search(rf'<input[^>]*name="away_until"[^>]*value="{last.isoformat()}"', html)
    assert re.search(rf'<input checked[^>]*name="topics"[^>]*value="{topic.id}"', html)


@pytest.mark.parametrize(
    ("who", "expected"),
    [("Marcus Hale", 200), ("Pat Partner", 200), ("Keisha Thompson", 404), ("Riley Brooks", 404)],
)
def test_partner_reaches_only_their_organisations_availability(demo, client, login, who, expected):
    sign_in_as_pat(client)
    target = contact(who)

    assert client.get(f"/contacts/{target.id}/availability").status_code == expected
    before = (target.accepts_inquiries, target.away_from)
    posted = client.post(f"/contacts/{target.id}/availability", data=away_form(today(), None))
    assert posted.status_code == (302 if expected == 200 else 404)
    if expected == 404:
        db.session.refresh(target)
        assert (target.accepts_inquiries, target.away_from) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (away_form(date(2026, 5, 10), date(2026, 5, 1)), "The last day away cannot be before the first."),
        (away_form(date(2026, 5, 1), None, away_from="2026-02-30"), "That date does not exist."),
        (away_form(date(2026, 5, 1), None, away_from="next week"), "Enter a real date."),
        (away_form(date(2026, 5, 1), None, languages=[]), "Choose at least one language."),
        (away_form(date(2026, 5, 1), None, languages=["xx"]), "Choose from the languages listed."),
        (away_form(date(2026, 5, 1), None, topics=["999999"]), "Choose from the topics listed."),
        (away_form(date(2026, 5, 1), None, topics=["abc"]), "Choose from the list."),
        (away_form(date(2026, 5, 1), None, away_note="x" * 201), "Keep this to 200 characters or fewer."),
        (away_form(date(2026, 5, 1), None, away_note="tab\x00here"), ""),
        ({**away_form(date(2026, 5, 1), None), "away_from": "", "away_until": ""}, "Give the days away too"),
    ],
)
def test_bad_availability_is_refused_and_nothing_written(demo, client, login, data, message):
    login(Role.STAFF)
    marcus = contact("Marcus Hale")

    response = client.post(f"/contacts/{marcus.id}/availability", data=data)

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.refresh(marcus)
    assert marcus.away_from is None
    assert marcus.away_note == ""


def _inquiry_for(contact_: Contact, n: int) -> Inquiry:
    details = InquiryDetails(
        name=f"Requester {n}", email=f"requester{n}@example.com", phone="", zip_code="63857", topic=None,
        language="en", message=f"Question {n} about home visits.", consent=True,
    )
    inquiry = receive(details, utcnow()).inquiry
    inquiry.assigned_contact = contact_
    inquiry.organisation_id = contact_.organisation_id
    inquiry.due_at = utcnow() + timedelta(days=1)
    db.session.commit()
    return inquiry


def test_handover_lists_what_is_due_and_hands_it_to_a_colleague(demo, client, login):
    sign_in_as_pat(client)
    pat, marcus = contact("Pat Partner"), contact("Marcus Hale")
    due_soon = _inquiry_for(pat, 1)
    due_later = _inquiry_for(pat, 2)
    due_later.due_at = utcnow() + timedelta(days=30)
    db.session.commit()

    saved = client.post(f"/contacts/{pat.id}/availability", data=away_form(today(), today() + timedelta(days=6)))
    assert saved.status_code == 302
    assert saved.headers["Location"].endswith(f"/contacts/{pat.id}/handover")
    page = client.get(f"/contacts/{pat.id}/handover").get_data(as_text=True)
    assert due_soon.reference in page
    assert due_later.reference not in page  # due after Pat is back
    assert "Question 1" not in page  # the family's words stay on the inquiry page

    notices_before = db.session.scalar(select(func.count()).select_from(OutboundEmail))
    handed = client.post(
        f"/contacts/{pat.id}/handover/{due_soon.id}",
        data={f"i{due_soon.id}-contact_id": str(marcus.id), f"i{due_soon.id}-note": "Called once, no answer."},
    )

    assert handed.status_code == 302
    db.session.refresh(due_soon)
    assert due_soon.assigned_contact_id == marcus.id
    kinds = [e.kind for e in db.session.scalars(select(InquiryEvent).where(InquiryEvent.inquiry_id == due_soon.id))]
    assert InquiryEventKind.ASSIGNED in kinds
    assert InquiryEventKind.NOTE in kinds
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == notices_before + 1
    assert f'id="inquiry-{due_soon.id}"' not in client.get(f"/contacts/{pat.id}/handover").get_data(as_text=True)


@pytest.mark.parametrize("colleague", ["Keisha Thompson", "Pat Partner", "", "abc"])
def test_handover_to_someone_not_on_the_list_is_refused(demo, client, login, colleague):
    sign_in_as_pat(client)
    pat = contact("Pat Partner")
    inquiry = _inquiry_for(pat, 3)
    value = str(contact(colleague).id) if colleague and colleague != "abc" else colleague

    response = client.post(f"/contacts/{pat.id}/handover/{inquiry.id}", data={f"i{inquiry.id}-contact_id": value})

    assert response.status_code == 422
    db.session.refresh(inquiry)
    assert inquiry.assigned_contact_id == pat.id


def test_handover_of_an_inquiry_that_is_not_theirs_is_a_404(demo, client, login):
    sign_in_as_pat(client)
    pat, marcus = contact("Pat Partner"), contact("Marcus Hale")
    marcus_inquiry = _inquiry_for(marcus, 4)

    response = client.post(
        f"/contacts/{pat.id}/handover/{marcus_inquiry.id}", data={f"i{marcus_inquiry.id}-contact_id": str(marcus.id)}
    )

    assert response.status_code == 404


def test_handover_lists_to_a_partner_only_the_inquiries_of_their_organisation(demo, client, login):
    # Keisha moves from Generate Health to Pat's organisation (a staff edit of her contact
    # record); the inquiry she had kept is Generate Health's, which Pat may not see.
    sign_in_as_pat(client)
    keisha = contact("Keisha Thompson")
    kept = _inquiry_for(keisha, 5)
    assert kept.organisation_id == organisation(GENERATE_HEALTH).id
    keisha.organisation_id = organisation(BOOTHEEL_BABIES).id
    own = _inquiry_for(keisha, 6)
    db.session.commit()
    assert client.get(f"/inquiries/{kept.id}").status_code == 404

    saved = client.post(f"/contacts/{keisha.id}/availability", data=away_form(today(), today() + timedelta(days=6)))
    assert saved.status_code == 302
    page = client.get(f"/contacts/{keisha.id}/handover").get_data(as_text=True)

    assert own.reference in page
    assert kept.reference not in page
    assert f'id="inquiry-{kept.id}"' not in page


@pytest.mark.parametrize(
    ("who", "accepted"),
    [("Marcus Hale", True), ("", True), ("Keisha Thompson", False), ("Riley Brooks", False)],
)
def test_backup_must_belong_to_the_organisation_and_take_inquiries(demo, client, login, who, accepted):
    login(Role.STAFF)
    bootheel = organisation(BOOTHEEL_BABIES)
    form = client.get(f"/organisations/{bootheel.id}/edit").get_data(as_text=True)
    assert "Backup contact" in form
    data = {
        "name": bootheel.name, "kind": bootheel.kind.value, "state": "MO",
        "regions": [str(region.id) for region in bootheel.regions],
        "counties": [county.fips for county in bootheel.counties],
        "backup_contact_id": str(contact(who).id) if who else "",
    }

    response = client.post(f"/organisations/{bootheel.id}/edit", data=data)

    db.session.refresh(bootheel)
    if accepted:
        assert response.status_code == 302
        assert bootheel.backup_contact_id == (contact(who).id if who else None)
    else:
        assert response.status_code == 422
        assert "contacts who take inquiries." in response.get_data(as_text=True)
        assert bootheel.backup_contact.name == "Dana Whitfield"


def test_demo_names_backups_for_both_partners(demo):
    assert organisation(BOOTHEEL_BABIES).backup_contact.name == "Dana Whitfield"
    assert organisation(GENERATE_HEALTH).backup_contact.name == "Tanya Reed"
