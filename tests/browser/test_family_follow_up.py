"""The family closes the loop, in a real browser with a real SMTP server: a Spanish request
from the Bootheel, closed five days ago, gets its follow-up in Spanish; its "no" link opens a
page that asks first, and the button reopens the inquiry. /status answers for the right email
and says nothing more for a wrong one."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.database import utcnow
from crm.extensions import db
from crm.family.services import send_follow_ups
from crm.inquiries import intake
from crm.inquiries.intake import InquiryDetails
from crm.models import EmailKind, Inquiry, InquiryEventKind, InquiryOutcome, InquirySource, OutboundEmail, Topic
from crm.models.inquiry_status import InquiryStatus

pytestmark = pytest.mark.browser

FAMILY_EMAIL = "familia.ortega@example.net"
STATUS_EMAIL = "familia.perez@example.net"
SECRET = "Necesitamos ayuda con las visitas a domicilio después del parto"


def _closed_spanish_request(live_app, email: str) -> tuple[int, str]:
    with live_app.app_context():
        topic = db.session.scalars(select(Topic).where(Topic.active.is_(True)).order_by(Topic.sort_order)).first()
        details = InquiryDetails(
            name="Rosa Ortega", email=email, phone="", zip_code="63857", topic=topic,
            language="es", message=SECRET, consent=True, source=InquirySource.WEB,
        )
        inquiry = intake.receive(details, utcnow() - timedelta(days=8)).inquiry
        inquiry.status = InquiryStatus.CLOSED
        inquiry.outcome = InquiryOutcome.CONNECTED
        inquiry.first_response_at = utcnow() - timedelta(days=7)
        inquiry.closed_at = utcnow() - timedelta(days=6)
        db.session.commit()
        assert send_follow_ups(utcnow()) >= 1
        found = inquiry.id, inquiry.reference
        db.session.remove()
    return found


def test_the_spanish_follow_up_arrives_and_its_no_link_reopens_the_inquiry(live_app, new_page, assert_accessible, mail) -> None:  # noqa: F811
    inquiry_id, reference = _closed_spanish_request(live_app, FAMILY_EMAIL)
    received = [message for message in mail() if message["To"] == FAMILY_EMAIL]
    follow_up = next(message for message in received if "¿Recibió la ayuda que necesitaba?" in message["Subject"])
    text = follow_up.get_content()
    assert "No, todavía necesito ayuda:" in text
    assert SECRET not in text
    no_link = re.search(r"(http\S+/follow-up/no\?token=\S+)", text).group(1)

    page = new_page(360, 740)
    page.goto(no_link)
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_role("heading", name="¿Recibió la ayuda que necesitaba?").is_visible()
    assert SECRET not in page.content()
    assert reference not in page.content()
    assert_accessible(page)
    with live_app.app_context():
        assert db.session.get(Inquiry, inquiry_id).status is InquiryStatus.CLOSED  # opening it changed nothing
        db.session.remove()

    page.get_by_role("button", name="No, todavía necesito ayuda").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Gracias por decírnoslo").is_visible()
    assert_accessible(page)
    with live_app.app_context():
        inquiry = db.session.get(Inquiry, inquiry_id)
        assert inquiry.status is InquiryStatus.IN_PROGRESS
        assert inquiry.family_confirmed is False
        assert any(event.kind is InquiryEventKind.FAMILY_NEEDS_HELP for event in inquiry.events)
        told = db.session.scalars(
            select(OutboundEmail.to_address).where(
                OutboundEmail.inquiry_id == inquiry_id, OutboundEmail.kind == EmailKind.FAMILY_REOPENED
            )
        ).all()
        assert told
        db.session.remove()

    # The link works once.
    page.goto(no_link)
    assert page.get_by_role("heading", name="Ya tenemos su respuesta").is_visible()


def test_status_answers_for_the_right_email_only(live_app, new_page, assert_accessible) -> None:  # noqa: F811
    _inquiry_id, reference = _closed_spanish_request(live_app, STATUS_EMAIL)
    page = new_page()
    page.goto("/status?lang=es")
    page.get_by_label("Número de referencia").fill(reference)
    page.get_by_label("Correo electrónico").fill(STATUS_EMAIL)
    page.get_by_role("button", name="Consultar").click()
    page.wait_for_load_state()
    answer = page.locator(".status-answer").inner_text()
    assert "Con una organización: Bootheel Babies & Families" in answer
    assert SECRET not in page.content()
    assert_accessible(page)

    page.get_by_label("Correo electrónico").fill("otra.persona@example.net")
    page.get_by_role("button", name="Consultar").click()
    page.wait_for_load_state()
    answer = page.locator(".status-answer").inner_text()
    assert "No encontramos ninguna solicitud" in answer
    assert "Bootheel" not in answer
