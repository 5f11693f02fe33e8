"""Accounts from emailed links, in a real browser with a real SMTP server: a manager invites a
routed contact, who chooses a password from the email on a phone; a forgotten password is
reset from the email; expired, reused and tampered links are refused, each saying why."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.auth.passwords import hash_password
from crm.database import utcnow
from crm.extensions import db
from crm.models import AccountToken, Contact, Role, User

pytestmark = pytest.mark.browser

CONTACT_EMAIL = "lucia.ramirez@bootheel-babies.example.org"
LUCIA_PASSWORD = "tres palabras sueltas y largas"  # noqa: S105
RESET_USER = "forgetful.reset@example.org"
RESET_PASSWORD = "my newly chosen passphrase"  # noqa: S105


def link_in(message, path: str) -> str:
    found = re.search(rf"(http\S+{re.escape(path)}\?token=\S+)", message.get_content())
    assert found, message.get_content()
    return found.group(1)


def main_text(page) -> str:
    return page.locator("main").inner_text()


def test_manager_invites_a_routed_contact_who_chooses_a_password(live_app, new_page, assert_accessible, mail, sign_in) -> None:
    with live_app.app_context():
        contact_id = db.session.scalars(select(Contact.id).where(Contact.email == CONTACT_EMAIL)).one()
        db.session.remove()

    manager = new_page()
    sign_in(manager, "manager@example.org")
    manager.goto(f"/contacts/{contact_id}")
    assert "Cannot sign in yet" in main_text(manager)
    manager.get_by_role("button", name="Invite to sign in").click()
    manager.wait_for_load_state()
    assert "has been invited" in main_text(manager)
    assert "Invited" in main_text(manager)
    assert_accessible(manager)
    manager.goto("/invitations/")
    assert CONTACT_EMAIL in main_text(manager)
    assert_accessible(manager)

    [message] = [m for m in mail() if m["To"] == CONTACT_EMAIL]
    assert "invited" in message["Subject"]
    link = link_in(message, "/invitations/accept")

    phone = new_page(width=360, height=740)
    phone.goto(link)
    assert "Lucía Ramírez" in main_text(phone)
    assert_accessible(phone)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.get_by_label("New password").fill("too short")
    phone.get_by_label("Confirm the password").fill("too short")
    phone.get_by_role("button", name="Create my account").click()
    phone.wait_for_load_state()
    assert "Use at least 12 characters" in main_text(phone)
    assert_accessible(phone)
    phone.get_by_label("New password").fill(LUCIA_PASSWORD)
    phone.get_by_label("Confirm the password").fill(LUCIA_PASSWORD)
    phone.get_by_role("button", name="Create my account").click()
    phone.wait_for_load_state()
    assert "Your account is ready" in main_text(phone)
    assert re.search(r"/organisations/\d+$", phone.url)

    # The link has been used: it says so, in any browser.
    again = new_page()
    again.goto(link)
    assert "already been accepted" in main_text(again)
    assert_accessible(again)
    sign_in(again, CONTACT_EMAIL, LUCIA_PASSWORD)
    manager.goto(f"/contacts/{contact_id}")
    assert "Can sign in" in main_text(manager)


def test_a_forgotten_password_is_reset_from_the_email(live_app, new_page, assert_accessible, mail, sign_in) -> None:
    with live_app.app_context():
        db.session.add(User(email=RESET_USER, name="Forgetful Reset", role=Role.STAFF, password_hash=hash_password("unknown to anyone at all")))
        db.session.commit()
        db.session.remove()

    page = new_page()
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_label("Email").fill(RESET_USER)
    page.get_by_role("button", name="Email me a link").click()
    page.wait_for_load_state()
    assert "Check your email" in main_text(page)
    assert_accessible(page)

    [message] = [m for m in mail() if m["To"] == RESET_USER]
    link = link_in(message, "/reset-password")

    # Tampered with: refused, and the real link still works.
    page.goto(link[:-3] + ("xyz" if not link.endswith("xyz") else "abc"))
    assert "not valid" in main_text(page)
    assert_accessible(page)

    page.goto(link)
    assert_accessible(page)
    page.get_by_label("New password").fill(RESET_PASSWORD)
    page.get_by_label("Confirm the password").fill(RESET_PASSWORD)
    page.get_by_role("button", name="Change my password").click()
    page.wait_for_load_state()
    assert "Your password was changed" in main_text(page)
    assert page.url.endswith("/dashboard")

    # Reused: refused.
    other = new_page()
    other.goto(link)
    assert "already been used" in main_text(other)
    sign_in(other, RESET_USER, RESET_PASSWORD)

    # Expired: refused, with a way to ask for another.
    fresh = new_page()
    fresh.goto("/forgot-password")
    fresh.get_by_label("Email").fill(RESET_USER)
    fresh.get_by_role("button", name="Email me a link").click()
    fresh.wait_for_load_state()
    expiring = link_in([m for m in mail() if m["To"] == RESET_USER][-1], "/reset-password")
    with live_app.app_context():
        row = db.session.scalars(select(AccountToken).order_by(AccountToken.id.desc()).limit(1)).one()
        row.created_at = utcnow() - timedelta(hours=3)
        row.expires_at = utcnow() - timedelta(hours=2)
        db.session.commit()
        db.session.remove()
    fresh.goto(expiring)
    assert "has expired" in main_text(fresh)
    assert_accessible(fresh)
    fresh.get_by_role("link", name="Ask for another link").click()
    fresh.wait_for_load_state()
    assert fresh.url.endswith("/forgot-password")
