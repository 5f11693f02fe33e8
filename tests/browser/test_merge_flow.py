"""Merging two contacts in the browser on a 360-px phone: the possible duplicates, the fields
side by side, the preview with the rows that move, then the merge. No JavaScript is needed,
every page fits and axe finds nothing serious."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.database import utcnow
from crm.extensions import db
from crm.models import Contact, Interaction, InteractionKind, Organisation
from tests.browser.test_import_flow import PHONE_WIDTH, fits
from tests.browser.test_staff_flow import sign_in

pytestmark = pytest.mark.browser


def test_merge_two_contacts_on_a_phone(new_page, assert_accessible, live_app) -> None:
    with live_app.app_context():
        home = Organisation(name="Merge Flow Partners")
        kept = Contact(name="Marisol Merge-Flow", email="", phone="(573) 555-0177", organisation=home, languages=["en"])
        other = Contact(
            name="Merge-Flow, Marisol",
            email="marisol@merge-flow.example.org",
            title="Director",
            organisation=home,
            languages=["es"],
        )
        db.session.add_all(
            [
                home,
                kept,
                other,
                Interaction(
                    kind=InteractionKind.CALL,
                    occurred_at=utcnow(),
                    summary="Called about the merge flow.",
                    organisation=home,
                    contacts=[other],
                ),
            ]
        )
        db.session.commit()
        kept_id, other_id = kept.id, other.id
        db.session.remove()

    page = new_page(width=PHONE_WIDTH, height=740)
    sign_in(page, "staff@example.org", assert_accessible)
    page.goto("/contacts/duplicates")
    assert_accessible(page)
    fits(page)
    page.get_by_role("link", name="Compare and merge Marisol Merge-Flow and Merge-Flow, Marisol").click()
    page.wait_for_load_state()
    assert "/contacts/merge" in page.url
    assert_accessible(page)
    fits(page)

    # The kept contact's empty email and title default to the other's; keep its own languages.
    assert page.get_by_label("Email: marisol@merge-flow.example.org").is_checked()
    page.get_by_label("Languages: English").check()
    page.get_by_role("button", name="Preview the merge").click()
    page.wait_for_load_state()
    main = page.locator("main").inner_text()
    assert "Interactions taken part in" in main, main[:1500]
    assert "marisol@merge-flow.example.org" in main
    assert_accessible(page)
    fits(page)

    page.get_by_role("button", name="Merge", exact=True).click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/contacts/{kept_id}"), page.url
    assert "now one" in page.locator("main").inner_text()
    page.goto(f"/contacts/{other_id}")
    assert "was merged into" in page.locator("main").inner_text()
    assert_accessible(page)
    with live_app.app_context():
        kept = db.session.get(Contact, kept_id)
        assert (kept.email, kept.title, kept.languages) == ("marisol@merge-flow.example.org", "Director", ["en"])
        assert db.session.get(Contact, other_id).merged_into_id == kept_id
        assert db.session.scalar(select(Interaction.id).where(Interaction.contacts.any(Contact.id == kept_id)))
        db.session.remove()
