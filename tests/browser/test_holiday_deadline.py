"""Holidays in a real browser: an inquiry received the day before a day the organisation is
closed is due after that day. A manager reads the deadline on the inquiry's page, closes the
next day on the organisation's own holiday calendar, and the page then shows the deadline
moved past the closed day. axe checks each page.

The organisation, its contact and the topic (8 business hours, not offered on the public form)
are this module's own, so the closed day moves no other test's deadlines.
"""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from sqlalchemy import select

from crm.database import utcnow
from crm.extensions import db
from crm.holidays.services import foundation_calendar
from crm.inquiries import intake
from crm.inquiries.intake import InquiryDetails
from crm.models import Contact, Organisation, Topic, User
from crm.models.contact_preference import ContactPreference
from crm.timezones import format_datetime, local_to_utc, local_today

pytestmark = pytest.mark.browser

ORGANISATION = "Holiday Flow Families"
TUESDAY = 1


def a_plain_week_tuesday(today: date, closed: set[date]) -> date:
    """The latest Tuesday at least a week back whose Tuesday, Wednesday and Thursday are all
    working days on the foundation calendar."""
    tuesday = today - timedelta(days=7 + (today.weekday() - TUESDAY) % 7)
    while {tuesday + timedelta(days=n) for n in range(3)} & closed:
        tuesday -= timedelta(days=7)
    return tuesday


@pytest.fixture(scope="module")
def holiday_world(live_app) -> dict:
    """An inquiry received at 10:00 on a Tuesday, with 8 business hours to answer: due 10:00 on
    Wednesday, unless Wednesday is closed."""
    with live_app.app_context():
        closed = {holiday.day for holiday in foundation_calendar().holidays}
        tuesday = a_plain_week_tuesday(local_today(), closed)
        organisation = Organisation(name=ORGANISATION)
        contact = Contact(
            name="Hollis Holiday", email="hollis@holiday-flow.example.org", organisation=organisation,
            accepts_inquiries=True, languages=["en"],
        )
        topic = Topic(name_en="Holiday flow questions", name_es="Preguntas de días festivos", active=False,
                      sort_order=99, response_target_hours=8)
        db.session.add_all([organisation, contact, topic])
        db.session.commit()
        staff = db.session.scalars(select(User).where(User.email == "staff@example.org")).one()
        received_at = local_to_utc(tuesday, time(10, 0))
        details = InquiryDetails(
            name="Holiday Flow Requester", email="", phone="(573) 555-0144", zip_code="", topic=topic, language="en",
            message="Please call me about the baby's clinic appointment.", consent=True,
            contact_preference=ContactPreference.PHONE,
        )
        inquiry = intake.receive(details, received_at, actor=staff, assign_to=contact).inquiry
        inquiry.accepted_at = received_at  # taken on at once: no acceptance timer runs for it
        db.session.commit()
        found = {
            "inquiry": inquiry.id,
            "wednesday": tuesday + timedelta(days=1),
            "due_wednesday": format_datetime(local_to_utc(tuesday + timedelta(days=1), time(10, 0))),
            "due_thursday": format_datetime(local_to_utc(tuesday + timedelta(days=2), time(10, 0))),
            "first_due": inquiry.due_at,
        }
        db.session.remove()
    assert found["first_due"] < utcnow()
    return found


def response_due(page) -> str:
    return page.locator("dt", has_text="Response due").locator("xpath=following-sibling::dd[1]").inner_text()


def test_an_inquiry_received_the_day_before_a_closed_day_is_due_after_it(
    new_page, assert_accessible, sign_in, holiday_world
) -> None:
    page = new_page()
    sign_in(page, "manager@example.org")
    page.goto(f"/inquiries/{holiday_world['inquiry']}")
    assert response_due(page) == holiday_world["due_wednesday"]

    # The organisation closes the Wednesday: a calendar of its own, then the day.
    page.goto("/holidays/")
    page.get_by_label("Organisation", exact=True).select_option(label=ORGANISATION)
    page.get_by_role("button", name="Add the calendar").click()
    page.wait_for_load_state()
    assert f"{ORGANISATION}" in page.locator("h1").inner_text()
    page.get_by_label("Day, or first day closed").fill(holiday_world["wednesday"].isoformat())
    page.get_by_label("Name", exact=True).fill("Staff retreat")
    page.get_by_role("button", name="Close these days").click()
    page.wait_for_load_state()
    assert "Staff retreat" in page.locator("main").inner_text()
    assert_accessible(page)

    page.goto(f"/inquiries/{holiday_world['inquiry']}")
    assert response_due(page) == holiday_world["due_thursday"]  # the closed Wednesday does not count
    assert_accessible(page)
