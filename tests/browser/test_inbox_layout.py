"""The inbox on a phone and on a desktop, as a manager and as a partner: nothing wider than the
screen, the first inquiry on the first screen, checkboxes beside their labels, axe content."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm.database import utcnow
from crm.extensions import db
from crm.inquiries import intake
from crm.inquiries.intake import InquiryDetails
from crm.models import Contact, InquirySource, User
from crm.models.contact_preference import ContactPreference
from tests.browser.test_staff_flow import sign_in

pytestmark = pytest.mark.browser

PHONE = (390, 844)
DESKTOP = (1280, 800)


@pytest.fixture(scope="module")
def partner_inquiries(live_app) -> None:
    """Two inquiries assigned to the demo partner, one of them overdue."""
    with live_app.test_request_context():
        pat = db.session.query(Contact).filter_by(email="partner@example.org").one()
        staff = db.session.query(User).filter_by(email="staff@example.org").one()
        for days_ago, name in ((6, "Layout Overdue Requester"), (0, "Layout Fresh Requester")):
            details = InquiryDetails(
                name=name,
                email="",
                phone="(573) 555-0142",
                zip_code="63857",
                topic=None,
                language="en",
                message=f"A request for the inbox layout test from {name}, long enough to wrap on a phone.",
                consent=True,
                source=InquirySource.PHONE,
                contact_preference=ContactPreference.PHONE,
            )
            intake.receive(details, utcnow() - timedelta(days=days_ago), actor=staff, assign_to=pat)
        db.session.remove()


@pytest.mark.parametrize("who", ["manager", "partner"])
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_inbox_fits_the_screen(new_page, assert_accessible, partner_inquiries, who, size) -> None:
    width, height = size
    page = new_page(width=width, height=height)
    sign_in(page, f"{who}@example.org", assert_accessible)

    page.goto("/inquiries/")

    assert page.evaluate("document.documentElement.scrollWidth") <= width
    first = page.locator("main table a[href^='/inquiries/']").first
    assert first.bounding_box()["y"] < height, "the first inquiry is on the first screen"
    assert not page.get_by_label("Assigned to", exact=True).is_visible(), "less used filters are folded away"
    assert_accessible(page)

    page.get_by_text("More filters").click()
    assert page.get_by_label("Assigned to", exact=True).is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for label in ("Overdue only", "Assigned to me"):
        box = page.get_by_label(label).bounding_box()
        text = page.locator("label", has_text=label).bounding_box()
        assert 0 <= text["x"] - (box["x"] + box["width"]) < 16, f"{label}: the checkbox sits beside its label"
    assert_accessible(page)


def test_a_partner_sees_their_own_inquiries_and_only_their_places(new_page, assert_accessible, partner_inquiries):
    page = new_page(*PHONE)
    sign_in(page, "partner@example.org", assert_accessible)

    page.goto("/inquiries/?mine=1&overdue=1")

    assert "Layout Overdue Requester" in page.locator("main").inner_text()
    counties = page.locator("#county option").all_inner_texts()
    assert counties == ["Any county", "Dunklin County"]
    assert page.locator("#organisation").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    assert_accessible(page)
