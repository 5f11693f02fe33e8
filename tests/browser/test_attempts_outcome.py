"""A partner works a Spanish request from the Bootheel to a close in a real browser, on a
phone's width, with axe on every page: two attempts to reach the family, the response, and
the close as connected to a service, which the inbox, the page and the timeline then show."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.database import utcnow
from crm.demo import BOOTHEEL_BABIES, PARTNER_EMAIL, STAFF_EMAIL
from crm.extensions import db
from crm.inquiries import intake
from crm.inquiries.intake import InquiryDetails
from crm.models import Contact, Inquiry, InquiryOutcome, User
from crm.models.inquiry_status import InquiryStatus
from crm.timezones import local_parts
from tests.browser.test_inquiry_flow import sign_in

pytestmark = pytest.mark.browser

REQUESTER = "Browser Outcome Requester"
PHONE_WIDTH = 360


@pytest.fixture(scope="module")
def spanish_inquiry(live_app) -> tuple[int, str]:
    """A Spanish request from Kennett, received two hours ago and logged by staff for Pat Partner."""
    with live_app.app_context():
        pat = db.session.scalar(select(Contact).where(Contact.email == PARTNER_EMAIL))
        staff = db.session.scalar(select(User).where(User.email == STAFF_EMAIL))
        details = InquiryDetails(
            name=REQUESTER,
            email="familia.browser@example.net",
            phone="(573) 555-0177",
            zip_code="63857",
            topic=None,
            language="es",
            message="Busco apoyo para mi familia, por favor.",
            consent=True,
        )
        inquiry = intake.receive(details, utcnow() - timedelta(hours=2), actor=staff, assign_to=pat).inquiry
        found = inquiry.id, inquiry.reference
        db.session.remove()
    return found


def test_a_partner_logs_attempts_and_closes_as_connected(new_page, assert_accessible, live_app, spanish_inquiry):
    inquiry_id, reference = spanish_inquiry
    page = new_page(width=PHONE_WIDTH, height=800)
    sign_in(page, PARTNER_EMAIL, assert_accessible)
    page.goto(f"/inquiries/{inquiry_id}")
    assert_accessible(page)

    # First try: no answer, an hour ago (the form starts at now; the time is changed).
    with live_app.app_context():
        day, minute = local_parts(utcnow() - timedelta(hours=1))
    attempt = page.locator("form", has=page.get_by_role("heading", name="Log an attempt to reach them"))
    attempt.get_by_label("No answer").check()
    attempt.get_by_label("Date").fill(day.isoformat())
    attempt.get_by_label("Time").fill(minute.strftime("%H:%M"))
    attempt.get_by_role("button", name="Log attempt").click()
    page.wait_for_load_state()
    assert "The attempt (no answer) was logged." in page.get_by_role("status").inner_text()

    # Second try: a call, now, with a note.
    attempt = page.locator("form", has=page.get_by_role("heading", name="Log an attempt to reach them"))
    attempt.get_by_label("Call").check()
    attempt.get_by_label("Note").fill("Habló con la mamá; prefiere las tardes.")
    attempt.get_by_role("button", name="Log attempt").click()
    page.wait_for_load_state()
    attempts = page.get_by_role("region", name="Attempts to reach them").inner_text()
    assert "No answer" in attempts
    assert "Call" in attempts
    assert "2, the last" in page.get_by_role("region", name="Routing").inner_text()
    assert_accessible(page)

    # The response, then the close: the Close button asks what came of it.
    response = page.locator("form", has=page.get_by_role("heading", name="Log a response"))
    response.get_by_label("Phone").check()
    response.get_by_label("What was said").fill("Called back and booked a home visit.")
    response.get_by_role("button", name="Log response").click()
    page.wait_for_load_state()
    page.get_by_role("button", name="Close").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == f"Close inquiry {reference}?"
    assert_accessible(page)
    # Without an outcome it is refused, and says why.
    page.get_by_role("button", name="Close the inquiry").click()
    page.wait_for_load_state()
    assert "Choose what came of it." in page.locator("main").inner_text()
    assert_accessible(page)
    page.get_by_label("Connected to a service").check()
    page.get_by_label("Organisation they were connected or referred to").select_option(label=BOOTHEEL_BABIES)
    page.get_by_label("Program, person or what happened").fill("Home visiting program")
    page.get_by_role("button", name="Close the inquiry").click()
    page.wait_for_load_state()
    assert f"{reference} is closed: connected to a service." in page.get_by_role("status").inner_text()
    said = f"Connected to a service: {BOOTHEEL_BABIES}, Home visiting program"
    assert said in page.get_by_role("region", name="Routing").inner_text()
    assert said in page.get_by_role("region", name="Timeline").inner_text()
    assert_accessible(page)

    # The inbox shows the count and the last attempt.
    page.goto("/inquiries/?status=")
    row = page.locator("tr", has=page.get_by_role("link", name=reference))
    assert row.locator('td[data-label="Attempts"]').inner_text().startswith("2"), row.inner_text()

    with live_app.app_context():
        inquiry = db.session.get(Inquiry, inquiry_id)
        assert (inquiry.status, inquiry.outcome) == (InquiryStatus.CLOSED, InquiryOutcome.CONNECTED)
        db.session.remove()
