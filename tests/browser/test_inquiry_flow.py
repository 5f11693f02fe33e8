"""A manager works the inquiry inbox in a real browser, with axe checking every page on the way:
filter the inbox, open an inquiry, reassign it, and export the list as CSV."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crm.database import utcnow
from crm.demo import FOUNDATION
from crm.extensions import db
from crm.inquiries import intake
from crm.inquiries.intake import InquiryDetails
from crm.models import Topic
from tests.browser.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser

REQUESTER = "Browser Flow Requester"


@pytest.fixture(scope="module")
def media_inquiry(live_app) -> str:
    """One inquiry about the media (routed to Sam Carter by the demo rules) and one about grants."""
    with live_app.app_context():
        references = {}
        for topic_name in ("Media", "Grants and funding"):
            topic = db.session.scalars(db.select(Topic).where(Topic.name_en == topic_name)).one()
            details = InquiryDetails(
                name=f"{REQUESTER} ({topic_name})",
                email="browser.requester@example.net",
                phone="",
                zip_code="",
                topic=topic,
                language="en",
                message=f"A question about {topic_name.lower()} from the browser test.",
                consent=True,
            )
            references[topic_name] = intake.receive(details, utcnow()).inquiry.reference
        db.session.remove()
    return references["Media"]


def sign_in(page, email: str, assert_accessible) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, page.locator("main").inner_text()


def test_manager_filters_opens_reassigns_and_exports(new_page, assert_accessible, media_inquiry) -> None:
    page = new_page()
    sign_in(page, "manager@example.org", assert_accessible)

    # The inbox, filtered to media inquiries mentioning the browser test.
    page.goto("/inquiries/")
    assert page.get_by_role("heading", level=1).inner_text() == "Inquiries"
    assert_accessible(page)
    page.get_by_text("More filters").click()  # the topic is among the filters folded away
    page.get_by_label("Topic", exact=True).select_option(label="Media")
    page.get_by_label("Search name, email, reference or message").fill("browser test")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    rows = page.locator("table tbody tr")
    assert rows.count() == 1, page.locator("main").inner_text()
    assert "Sam Carter" in rows.first.inner_text()
    assert "Due in" in rows.first.inner_text()
    assert_accessible(page)
    inbox_url = page.url

    # The inquiry: the request, why it went where it did, and the manager's own view logged.
    page.get_by_role("link", name=media_inquiry).click()
    page.wait_for_load_state()
    assert re.search(r"/inquiries/\d+$", page.url)
    main = page.locator("main")
    assert "A question about media from the browser test." in main.inner_text()
    assert "rule 'Media requests'" in page.get_by_role("region", name="Routing").inner_text()
    assert "Morgan Manager" in page.get_by_role("region", name="Access log").inner_text()
    assert_accessible(page)

    # Reassign it to the foundation's inquiries coordinator.
    page.get_by_label("Assign to").select_option(label=f"Riley Brooks ({FOUNDATION})")
    page.get_by_role("button", name="Reassign", exact=True).click()
    page.wait_for_load_state()
    assert "Assigned to Riley Brooks, who has been sent a notice." in main.inner_text()
    timeline = page.get_by_role("region", name="Timeline").inner_text()
    assert "Reassigned from Sam Carter to Riley Brooks" in timeline
    assert "Reassignment notice queued for the new assignee (riley.brooks@foundation.example.org)" in timeline
    assert "Riley Brooks" in page.get_by_role("region", name="Routing").inner_text()
    assert_accessible(page)

    # Export the filtered list.
    page.goto(inbox_url)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download these inquiries as CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("inquiries-")
    assert download.suggested_filename.endswith(".csv")
    content = Path(download.path()).read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    text = content.decode("utf-8-sig")
    assert media_inquiry in text
    assert "Riley Brooks" in text
    assert "(Grants and funding)" not in text, "the export holds the filtered list only"
