"""The interaction form from the keyboard: Enter saves it, and the button that shows the chosen
organisation's contacts (the way to refresh them without JavaScript) still does only that."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from crm.demo import BOOTHEEL_BABIES, GENERATE_HEALTH
from crm.extensions import db
from crm.models import Interaction, Organisation
from tests.browser.test_staff_flow import sign_in

pytestmark = pytest.mark.browser


def interactions_with(live_app, summary: str) -> int:
    with live_app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Interaction).where(Interaction.summary == summary))
        db.session.remove()
    return count


def organisation_id(live_app, name: str) -> int:
    with live_app.app_context():
        found = db.session.scalar(select(Organisation.id).where(Organisation.name == name))
        db.session.remove()
    return found


def press_enter_in(page, label: str) -> None:
    with page.expect_navigation():
        page.get_by_label(label, exact=True).press("Enter")
    page.wait_for_load_state()


@pytest.mark.parametrize("field", ["Time", "Follow up on"])
def test_enter_in_a_field_saves_the_new_interaction(new_page, assert_accessible, live_app, field) -> None:
    summary = f"Logged with Enter in the {field.lower()} field."
    page = new_page()
    sign_in(page, "staff@example.org", assert_accessible)
    bootheel = organisation_id(live_app, BOOTHEEL_BABIES)
    page.goto(f"/interactions/new?organisation_id={bootheel}")
    page.get_by_label("Summary", exact=True).fill(summary)

    press_enter_in(page, field)

    assert page.url.endswith(f"/organisations/{bootheel}"), page.locator("main").inner_text()[:1000]
    assert page.get_by_role("status").get_by_text("Interaction logged.").is_visible()
    assert interactions_with(live_app, summary) == 1
    assert_accessible(page)


def test_enter_saves_an_edited_interaction(new_page, assert_accessible, live_app) -> None:
    page = new_page()
    sign_in(page, "staff@example.org", assert_accessible)
    bootheel = organisation_id(live_app, BOOTHEEL_BABIES)
    page.goto(f"/interactions/new?organisation_id={bootheel}")
    page.get_by_label("Summary", exact=True).fill("An interaction to edit from the keyboard.")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_load_state()
    with live_app.app_context():
        interaction_id = db.session.scalar(
            select(Interaction.id).where(Interaction.summary == "An interaction to edit from the keyboard.")
        )
        db.session.remove()

    page.goto(f"/interactions/{interaction_id}/edit")
    page.get_by_label("Summary", exact=True).fill("Edited, then saved with Enter.")
    press_enter_in(page, "Date")

    assert page.get_by_role("status").get_by_text("Changes saved.").is_visible(), page.locator("main").inner_text()
    assert interactions_with(live_app, "Edited, then saved with Enter.") == 1
    assert_accessible(page)


def test_the_show_contacts_button_still_only_refreshes_the_choices(new_page, assert_accessible, live_app) -> None:
    summary = "Not saved: only the contact choices were refreshed."
    page = new_page()
    sign_in(page, "staff@example.org", assert_accessible)
    page.goto(f"/interactions/new?organisation_id={organisation_id(live_app, BOOTHEEL_BABIES)}")
    page.get_by_label("Summary", exact=True).fill(summary)
    page.get_by_label("Organisation", exact=True).select_option(label=GENERATE_HEALTH)

    page.get_by_role("button", name="Show the chosen organisation's contacts").click()
    page.wait_for_load_state()

    assert re.search(r"/interactions/new", page.url)
    contacts = page.get_by_role("group", name="Contacts involved")
    assert "Keisha Thompson" in contacts.inner_text()
    assert "Pat Partner" not in contacts.inner_text()
    assert page.get_by_label("Summary", exact=True).input_value() == summary
    assert interactions_with(live_app, summary) == 0
    assert_accessible(page)

    # Enter after the refresh saves, with the organisation now chosen.
    contacts.get_by_label("Keisha Thompson").check()
    press_enter_in(page, "Time")
    assert page.get_by_role("status").get_by_text("Interaction logged.").is_visible(), page.locator("main").inner_text()
    assert interactions_with(live_app, summary) == 1
