"""Accept or pass, in a real browser with a real SMTP server: a Spanish request from the
Bootheel goes to the one Spanish speaker at Bootheel Babies & Families, is passed on for
language, and the next contact accepts it from the link in their notice after signing in;
an inquiry nobody accepts moves on by itself when the acceptance job runs after its window."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.auth.passwords import hash_password
from crm.database import utcnow
from crm.extensions import db
from crm.inquiries import intake
from crm.inquiries.acceptance_jobs import run_acceptance_timers
from crm.inquiries.intake import InquiryDetails
from crm.models import Contact, Inquiry, Organisation, Role, Topic, User
from tests.browser.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser

LUCIA = "lucia.ramirez@bootheel-babies.example.org"
DANA = "dana.whitfield@bootheel-babies.example.org"


def receive(live_app, name: str, *, zip_code: str, language: str, topic_name: str = "Support for my family") -> tuple[int, str]:
    with live_app.app_context():
        topic = db.session.scalars(select(Topic).where(Topic.name_en == topic_name)).one()
        details = InquiryDetails(
            name=name,
            email="familia.browser@example.net",
            phone="",
            zip_code=zip_code,
            topic=topic,
            language=language,
            message=f"Necesito ayuda, por favor ({name}).",
            consent=True,
        )
        inquiry = intake.receive(details, utcnow()).inquiry
        found = inquiry.id, inquiry.reference
        db.session.remove()
    return found


def dana_signs_in(live_app) -> None:
    """Dana Whitfield, Bootheel Babies & Families' backup, with an account of her own."""
    with live_app.app_context():
        if db.session.scalar(select(User.id).where(User.email == DANA)) is None:
            contact = db.session.scalars(select(Contact).where(Contact.email == DANA)).one()
            organisation = db.session.get(Organisation, contact.organisation_id)
            db.session.add(
                User(
                    email=DANA,
                    name=contact.name,
                    role=Role.PARTNER,
                    organisation=organisation,
                    contact=contact,
                    password_hash=hash_password(DEMO_PASSWORD),
                )
            )
            db.session.commit()
        db.session.remove()


def main_text(page) -> str:
    return page.locator("main").inner_text()


def assigned_to(live_app, inquiry_id: int) -> str:
    with live_app.app_context():
        name = db.session.get(Inquiry, inquiry_id).assigned_contact.name
        db.session.remove()
    return name


def test_passed_for_language_then_accepted_from_the_email(live_app, new_page, assert_accessible, mail, sign_in) -> None:
    dana_signs_in(live_app)
    inquiry_id, reference = receive(live_app, "Familia Bootheel", zip_code="63857", language="es")
    assert assigned_to(live_app, inquiry_id) == "Lucía Ramírez"

    # Lucía cannot take it after all; Sasha Staff passes it on for her, for language.
    page = new_page()
    sign_in(page, "staff@example.org")
    page.goto(f"/inquiries/{inquiry_id}")
    assert "Awaiting acceptance" in main_text(page)
    assert_accessible(page)
    page.get_by_label("Why you cannot take it").select_option(label="Other")
    page.get_by_role("button", name="Pass").click()
    page.wait_for_load_state()
    assert "required with “Other”" in main_text(page)
    assert_accessible(page)
    page.get_by_label("Why you cannot take it").select_option(label="Language")
    page.get_by_role("button", name="Pass").click()
    page.wait_for_load_state()
    assert "passed on to Dana Whitfield" in main_text(page)
    assert "Passed on by Sasha Staff for Lucía Ramírez: Language" in main_text(page)

    # Dana's notice arrives, with its Accept link; the family gets no second email.
    messages = mail()
    to_dana = [m for m in messages if m["To"] == DANA and reference in m["Subject"]]
    assert len(to_dana) == 1
    assert len([m for m in messages if m["To"] == "familia.browser@example.net" and reference in m["Subject"]]) == 1
    body = to_dana[0].get_content()
    assert "Necesito ayuda" not in body
    link = re.search(r"(http\S+/inquiries/accept\?token=\S+)", body).group(1)

    dana = new_page(width=360, height=740)
    dana.goto(link)
    assert "/login" in dana.url
    sign_in(dana, DANA, go_to_login=False)  # the link sent her to the sign-in page
    assert f"Accept inquiry {reference}?" in main_text(dana)
    assert_accessible(dana)
    dana.get_by_role("button", name="Accept the inquiry").click()
    dana.wait_for_load_state()
    assert f"You accepted {reference}" in main_text(dana)
    assert "Awaiting acceptance" not in main_text(dana)
    assert_accessible(dana)

    # The link has done its work.
    dana.goto(link)
    assert "already been accepted" in main_text(dana)


def test_an_inquiry_nobody_accepts_moves_on_after_the_window(live_app, new_page, assert_accessible, mail, sign_in) -> None:
    inquiry_id, reference = receive(live_app, "Familia sin respuesta", zip_code="63857", language="en")
    first = assigned_to(live_app, inquiry_id)

    # Its window runs out (the other inquiries' windows are left as they are), and the job runs.
    with live_app.app_context():
        db.session.get(Inquiry, inquiry_id).acceptance_due_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        moved = run_acceptance_timers(utcnow())
        db.session.remove()
    assert reference in [item.reference for item in moved]
    assert assigned_to(live_app, inquiry_id) != first

    managers = [m for m in mail() if m["To"] in ("manager@example.org", "admin@example.org") and "not accepted in time" in m["Subject"]]
    assert managers
    assert reference in managers[-1].get_content()

    page = new_page()
    sign_in(page, "manager@example.org")
    page.goto(f"/inquiries/{inquiry_id}")
    assert f"Not accepted in time by {first}" in main_text(page)
    assert_accessible(page)
