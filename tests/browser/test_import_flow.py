"""Importing a spreadsheet in the browser on a 360-px phone: upload, choose the columns,
preview, confirm. No JavaScript is needed, every page fits and axe finds nothing serious."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import Organisation
from tests.browser.test_staff_flow import sign_in

pytestmark = pytest.mark.browser

PHONE_WIDTH = 360
CSV = (
    b"Partner list, December\r\n"
    b"Org name;Town;Web\r\n"
    b"Every Page Import Partner;Sikeston;import-partner.example.org\r\n"
    b"every page import partner;Again;\r\n"
)


def fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"{page.url} is {width}px wide"


def test_import_on_a_phone(new_page, assert_accessible, live_app, tmp_path) -> None:
    page = new_page(width=PHONE_WIDTH, height=740)
    sign_in(page, "staff@example.org", assert_accessible)
    page.goto("/import/")
    assert_accessible(page)
    fits(page)
    path = tmp_path / "partners.csv"
    path.write_bytes(CSV)
    page.get_by_label("What the file holds").select_option("organisations")
    page.get_by_label("Spreadsheet").set_input_files(str(path))
    page.get_by_role("button", name="Upload and choose columns").click()
    page.wait_for_load_state()
    assert "/columns" in page.url, page.locator("main").inner_text()[:1000]
    assert_accessible(page)
    fits(page)

    page.get_by_label("Org name").select_option("name")
    page.get_by_label("Town").select_option("city")
    page.get_by_label("Web").select_option("website")
    page.get_by_role("button", name="Preview the import").click()
    page.wait_for_load_state()
    main = page.locator("main").inner_text()
    assert "1 to create, 0 to update, 0 unchanged, 1 refused" in main, main[:1000]
    assert_accessible(page)
    fits(page)

    page.get_by_role("button", name="Import 1 rows").click()
    page.wait_for_load_state()
    assert "1 created" in page.locator("main").inner_text()
    assert_accessible(page)
    fits(page)
    with live_app.app_context():
        city = db.session.scalar(select(Organisation.city).where(Organisation.name == "Every Page Import Partner"))
        db.session.remove()
    assert city == "Sikeston"
