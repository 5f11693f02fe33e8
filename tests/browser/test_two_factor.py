"""Two-factor sign-in in a real browser, on a 360-px phone: turning it on with the QR code's
setup key, then signing in with a code from the app, with axe checking each page."""

from __future__ import annotations

import re

import pytest

from crm.auth import totp
from crm.auth.passwords import hash_password
from crm.database import utcnow
from crm.extensions import db
from crm.models import Role, User
from tests.browser.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser

EMAIL = "two.factor.user@example.org"
PHONE_WIDTH = 360


@pytest.fixture
def user_email(live_app) -> str:
    """A user of its own, so the demo users other browser tests sign in as keep password-only sign-in."""
    with live_app.app_context():
        db.session.add(User(email=EMAIL, name="Tess Factor", role=Role.STAFF, password_hash=hash_password(DEMO_PASSWORD)))
        db.session.commit()
        db.session.remove()
    return EMAIL


def code_at(secret: str, offset: int = 0) -> str:
    return totp.code_for_step(secret, totp.step_at(utcnow()) + offset)


def password_step(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def assert_fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"{page.url} is {width}px wide on a {PHONE_WIDTH}px screen"


def test_turn_it_on_and_sign_in_with_a_code(new_page, assert_accessible, user_email) -> None:
    page = new_page(width=PHONE_WIDTH, height=800)
    password_step(page, user_email)
    assert page.url.endswith("/dashboard"), page.locator("main").inner_text()

    page.goto("/account/")
    page.get_by_role("link", name="Turn on two-factor sign-in").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    page.wait_for_load_state()

    # What a phone's app would read from the QR code: the setup key shown under it.
    assert page.get_by_role("img", name=re.compile("QR code")).is_visible()
    secret = page.locator("figure.qr-code code.secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert_accessible(page)
    assert_fits(page)
    page.get_by_label("Code", exact=True).fill("12345")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    page.wait_for_load_state()
    assert "does not match" in page.locator("main").inner_text()

    page.get_by_label("Code", exact=True).fill(code_at(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Two-factor sign-in is on"
    codes = page.locator("ol.recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    assert_accessible(page)
    assert_fits(page)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    password_step(page, user_email)
    assert page.url.endswith("/login/code")
    assert_accessible(page)
    assert_fits(page)

    # The setup used this step's code; the next step's is still within the window.
    page.get_by_label("Code", exact=True).fill(code_at(secret, 1))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.url.endswith("/dashboard"), page.locator("main").inner_text()
    page.goto("/account/")
    assert "On" in page.locator("dl.record").inner_text()
