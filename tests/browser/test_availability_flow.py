"""Availability in a real browser: a partner marks themselves away, is sent straight to the
inquiries due while they are away, and hands one to their organisation's backup, who is sent
the usual notice; the inquiry's page then says who has it and why. axe checks each page.

The people are this module's own (an organisation of their own), so marking one of them away
changes nothing that the other browser tests route to.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.auth.passwords import hash_password
from crm.database import utcnow
from crm.extensions import db
from crm.inquiries import intake
from crm.inquiries.intake import InquiryDetails
from crm.models import Contact, Inquiry, Organisation, OutboundEmail, Role, Topic, User
from crm.timezones import local_today
from tests.browser.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser

AWAY = "avery.away@away-flow.example.org"
BACKUP = "blake.backup@away-flow.example.org"
NOTE = "The family prefers a call after 3 pm; I left them a voicemail on Monday."


@pytest.fixture(scope="module")
def away_world(live_app) -> dict:
    """Avery (a partner user) and Blake (the organisation's backup) take inquiries at Away Flow
    Families; one open inquiry is Avery's, due within the next days."""
    with live_app.app_context():
        organisation = Organisation(name="Away Flow Families")
        avery = Contact(name="Avery Away", email=AWAY, organisation=organisation, accepts_inquiries=True, languages=["en"])
        blake = Contact(name="Blake Backup", email=BACKUP, organisation=organisation, accepts_inquiries=True, languages=["en"])
        db.session.add_all([organisation, avery, blake])
        db.session.flush()
        organisation.backup_contact = blake
        db.session.add(
            User(email=AWAY, name=avery.name, role=Role.PARTNER, organisation=organisation, contact=avery,
                 password_hash=hash_password(DEMO_PASSWORD))
        )
        db.session.commit()
        staff = db.session.scalars(select(User).where(User.email == "staff@example.org")).one()
        topic = db.session.scalars(select(Topic).where(Topic.name_en == "Support for my family")).one()
        details = InquiryDetails(
            name="Away Flow Requester", email="away.flow.family@example.net", phone="", zip_code="", topic=topic,
            language="en", message="We need help finding a car seat before the baby comes.", consent=True,
        )
        inquiry = intake.receive(details, utcnow() - timedelta(hours=1), actor=staff, assign_to=avery).inquiry
        found = {"avery": avery.id, "blake": blake.id, "inquiry": inquiry.id, "reference": inquiry.reference}
        db.session.remove()
    return found


def test_a_partner_marks_themselves_away_and_hands_an_inquiry_to_the_backup(
    live_app, new_page, assert_accessible, sign_in, away_world
) -> None:
    reference = away_world["reference"]
    with live_app.app_context():
        first_day = local_today()
    last_day = first_day + timedelta(days=14)
    page = new_page(width=360, height=740)  # on a phone
    sign_in(page, AWAY)

    page.goto(f"/contacts/{away_world['avery']}/availability")
    assert_accessible(page)
    page.get_by_label("Away from").fill(first_day.isoformat())
    page.get_by_label("Away until").fill(last_day.isoformat())
    page.get_by_label("Note about the absence").fill("Parental leave")
    page.get_by_role("button", name="Save availability").click()
    page.wait_for_load_state()

    # Saved, and sent straight on to what is due while away.
    assert page.url.endswith(f"/contacts/{away_world['avery']}/handover"), page.url
    text = page.locator("main").inner_text()
    assert "Availability saved. 1 open inquiry is due while away: hand them to a colleague below." in text
    assert reference in text
    assert_accessible(page)
    handover = page.locator("form", has=page.get_by_role("button", name=f"Hand over {reference}"))
    choices = handover.get_by_label("Hand to").locator("option").all_inner_texts()
    assert "Blake Backup" in choices
    assert "Avery Away" not in choices  # not to someone away: herself
    handover.get_by_label("Hand to").select_option(label="Blake Backup")
    handover.get_by_label("Note for them").fill(NOTE)
    handover.get_by_role("button", name=f"Hand over {reference}").click()
    page.wait_for_load_state()

    text = page.locator("main").inner_text()
    assert f"{reference} was handed to Blake Backup, who has been sent a notice." in text
    assert "Nothing to hand over: no open inquiry is due before Avery Away is back." in text
    assert_accessible(page)

    # The inquiry's page says who has it now, with the note on its timeline.
    page.goto(f"/inquiries/{away_world['inquiry']}")
    text = page.locator("main").inner_text()
    assert "Reassigned from Avery Away to Blake Backup" in text
    assert NOTE in text
    assert_accessible(page)

    with live_app.app_context():
        inquiry = db.session.get(Inquiry, away_world["inquiry"])
        avery = db.session.get(Contact, away_world["avery"])
        notices = db.session.scalars(
            select(OutboundEmail).where(OutboundEmail.inquiry_id == inquiry.id, OutboundEmail.to_address == BACKUP)
        ).all()
        assert inquiry.assigned_contact_id == away_world["blake"]
        assert avery.away_note == "Parental leave"
        assert avery.away_from is not None
        assert avery.away_until is not None
        assert len(notices) == 1
        db.session.remove()
