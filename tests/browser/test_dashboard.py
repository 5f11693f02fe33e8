"""The dashboard's grant reports past due, in a browser: on a phone, with axe, linked to the grant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.grants.services import today
from crm.models import Grant, GrantReport, Organisation
from tests.browser.test_every_page import PHONE_WIDTH, assert_fits
from tests.browser.test_staff_flow import sign_in

pytestmark = pytest.mark.browser

ORGANISATION = "Southeast Missouri Mothers' and Babies' Extraordinarily Long-Named Coalition"
PROGRAM = "Community health workers for families after a loss"


@pytest.fixture(scope="module")
def late_report(live_app) -> int:
    """A grant whose report was due a fortnight ago and has not come in."""
    with live_app.test_request_context():
        organisation = Organisation(name=ORGANISATION)
        grant = Grant(
            organisation=organisation, program=PROGRAM, amount=25000, start_date=today() - timedelta(days=200),
            end_date=today() + timedelta(days=165), reports=[GrantReport(due_on=today() - timedelta(days=14))],
        )
        db.session.add(grant)
        db.session.commit()
        grant_id = db.session.scalar(select(Grant.id).where(Grant.program == PROGRAM))
        db.session.remove()
    return grant_id


@pytest.mark.parametrize("who", ["staff", "manager"])
def test_the_dashboard_lists_grant_reports_past_due_on_a_phone(new_page, assert_accessible, late_report, who):
    page = new_page(width=PHONE_WIDTH, height=740)
    sign_in(page, f"{who}@example.org", assert_accessible)

    page.goto("/dashboard")

    section = page.get_by_role("region", name="Grant reports past due")
    row = section.get_by_role("row").filter(has_text=PROGRAM)
    assert ORGANISATION in row.inner_text()
    assert "14 days" in row.inner_text()
    assert_fits(page)
    assert_accessible(page)
    row.get_by_role("link", name=PROGRAM).click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/grants/{late_report}")
