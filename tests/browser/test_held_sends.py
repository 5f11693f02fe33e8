"""Sends held in a flood, in a real browser: /status answers a family for one still held (in
Spanish, without what they wrote), and the admin outbox page shows the backlog, with the
button that tries the given-up sends again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from crm.database import utcnow
from crm.extensions import db
from crm.inquiries.held_posts import MAX_ATTEMPTS
from crm.inquiries.intake import dedupe_key
from crm.models import HeldPost

pytestmark = pytest.mark.browser

WAITING_EMAIL = "familia.held@example.net"
GIVEN_UP_EMAIL = "family.given-up@example.net"
SECRET = "Perdimos a nuestro bebé y necesitamos hablar con alguien"


@pytest.fixture
def held_sends(live_app):
    """One send waiting to be filed and one given up after MAX_ATTEMPTS tries; removed after."""
    with live_app.app_context():
        rows = [
            HeldPost(
                reference=reference, received_at=utcnow() - timedelta(minutes=minutes), name="Rosa",
                email=email, language="es", message=SECRET, attempts=attempts,
                dedupe_key=dedupe_key(email, SECRET),
            )
            for reference, email, minutes, attempts in (
                ("IM-H7D2K3", WAITING_EMAIL, 3, 0),
                ("IM-H7D2K4", GIVEN_UP_EMAIL, 30, MAX_ATTEMPTS),
            )
        ]
        db.session.add_all(rows)
        db.session.commit()
        db.session.remove()
    yield
    with live_app.app_context():
        db.session.execute(delete(HeldPost).where(HeldPost.email.in_([WAITING_EMAIL, GIVEN_UP_EMAIL])))
        db.session.commit()
        db.session.remove()


def test_status_answers_for_a_send_still_held(held_sends, new_page, assert_accessible) -> None:
    page = new_page(360, 740)
    page.goto("/status?lang=es")
    page.get_by_label("Número de referencia").fill("IM-H7D2K3")
    page.get_by_label("Correo electrónico").fill(WAITING_EMAIL)
    page.get_by_role("button", name="Consultar").click()
    page.wait_for_load_state()
    answer = page.locator(".status-answer").inner_text()
    assert "Recibida" in answer
    assert "No encontramos ninguna solicitud" not in answer
    assert SECRET not in page.content()
    assert_accessible(page)


def test_the_outbox_shows_the_backlog_and_tries_the_given_up_again(
    live_app, held_sends, new_page, sign_in, assert_accessible
) -> None:
    page = new_page()
    sign_in(page, "admin@example.org")
    page.goto("/admin/outbox/")
    section = page.get_by_role("region", name="Held Get in Touch sends")
    text = section.inner_text()
    assert "1 held in a flood or taken for spam, waiting for the job runner" in text
    assert "1 could not be filed, not even for routing by hand" in text
    assert SECRET not in page.content()
    assert_accessible(page)

    section.get_by_role("button", name="Try them again").click()
    page.wait_for_load_state()
    assert "1 held Get in Touch sends will be tried again" in page.locator("main").inner_text()
    with live_app.app_context():
        attempts = db.session.scalar(select(HeldPost.attempts).where(HeldPost.email == GIVEN_UP_EMAIL))
        db.session.remove()
    assert attempts < MAX_ATTEMPTS
    assert "could not be filed, not even for routing by hand" not in page.content()
