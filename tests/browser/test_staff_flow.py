"""A staff member's day in a real browser, with axe checking every page on the way."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser

ORGANISATION = "Pemiscot Family Circle"
CONTACT = "Renée Okafor"
CONTACT_EMAIL = "renee.okafor@pemiscot-circle.example.org"
SUMMARY = "Phone call about the spring baby shower and safe-sleep kits."


def sign_in(page, email: str, assert_accessible) -> None:
    page.goto("/login")
    assert_accessible(page)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, page.locator("main").inner_text()


def save(page) -> None:
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_load_state()


def test_staff_log_an_interaction_with_a_new_organisation(new_page, assert_accessible) -> None:
    page = new_page()

    sign_in(page, "staff@example.org", assert_accessible)
    assert page.url.endswith("/dashboard")
    assert_accessible(page)

    # A new organisation.
    page.goto("/organisations/new")
    assert_accessible(page)
    page.get_by_label("Name", exact=True).fill(ORGANISATION)
    save(page)
    assert re.search(r"/organisations/\d+$", page.url), page.locator("main").inner_text()
    organisation_url = page.url
    assert page.get_by_role("heading", level=1).inner_text() == ORGANISATION
    assert_accessible(page)

    # A contact for it, from the organisation page.
    page.get_by_role("link", name="Add a contact").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_label("Name", exact=True).fill(CONTACT)
    page.get_by_label("Email", exact=True).fill(CONTACT_EMAIL)
    page.get_by_label("Organisation", exact=True).select_option(label=ORGANISATION)
    save(page)
    assert re.search(r"/contacts/\d+$", page.url), page.locator("main").inner_text()
    assert CONTACT in page.locator("main").inner_text()
    assert_accessible(page)

    # An interaction, logged from the organisation page.
    page.goto(organisation_url)
    assert CONTACT in page.locator("main").inner_text()
    page.get_by_role("link", name="Log an interaction").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_label(re.compile(r"^(Kind|Type)$")).select_option(label="Call")
    page.get_by_label("Summary", exact=True).fill(SUMMARY)
    save(page)
    assert page.url == organisation_url, page.locator("main").inner_text()
    assert_accessible(page)

    # It is on the timeline.
    timeline = page.get_by_role("region", name="Timeline")
    assert SUMMARY in timeline.inner_text()
    assert "Call" in timeline.inner_text()


def test_login_page_fits_a_small_phone(new_page, assert_accessible) -> None:
    page = new_page(width=360, height=740)

    page.goto("/login")

    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 360, f"the login page scrolls sideways at 360px ({scroll_width}px wide)"
    assert_accessible(page)
