"""The public Get in Touch pages in Chromium: English, Spanish, keyboard only, axe, and a 360 px phone."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import Inquiry, OutboundEmail
from tests.public_support import app_config

pytestmark = pytest.mark.browser

REFERENCE = re.compile(r"IM-[23456789A-HJKMNP-TV-Z]{6}")
THANKS_PATH = "/get-in-touch/thank-you"


@pytest.fixture(scope="module", autouse=True)
def public_live(live_app):
    """The public pages on the live app; no render-time wait, and room for every test's posts."""
    with app_config(
        live_app,
        PUBLIC_FORM_MIN_SECONDS=0,
        PUBLIC_FORM_RATE_LIMIT="1000 per minute",
        PUBLIC_FORM_REFUSED_RATE_LIMIT="1000 per minute",
    ):
        yield live_app


def stored(live_app, reference: str) -> dict:
    """What the live server stored for this reference, read in its own app context."""
    with live_app.app_context():
        inquiry = db.session.scalar(select(Inquiry).where(Inquiry.reference == reference))
        emails = db.session.scalars(select(OutboundEmail).where(OutboundEmail.inquiry_id == inquiry.id)).all()
        snapshot = {
            "name": inquiry.name,
            "language": inquiry.language,
            "topic": inquiry.topic.name_en if inquiry.topic else None,
            "emails": {email.kind: email.subject for email in emails},
        }
        db.session.remove()
        return snapshot


def html_lang(page) -> str:
    return page.locator("html").get_attribute("lang")


def no_horizontal_scroll(page) -> None:
    widths = page.evaluate(
        "() => ({page: document.documentElement.scrollWidth, body: document.body.scrollWidth,"
        " viewport: window.innerWidth})"
    )
    assert widths["page"] <= widths["viewport"], (page.url, widths)
    assert widths["body"] <= widths["viewport"], (page.url, widths)


def reference_on(page) -> str:
    match = REFERENCE.search(page.locator("main").inner_text())
    assert match, page.locator("main").inner_text()
    return match.group(0)


def test_submit_the_form_in_english(new_page, assert_accessible, public_live):
    page = new_page()
    page.goto("/")
    assert html_lang(page) == "en"
    assert page.get_by_role("heading", name="Bootheel Babies & Families").is_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Get in touch").first.click()
    page.wait_for_load_state()
    assert page.url.endswith("/get-in-touch")
    assert_accessible(page)

    page.get_by_label("Your name").fill("Jordan Baker")
    page.get_by_label("Email address").fill("jordan.baker@example.org")
    page.get_by_label("Phone number").fill("(573) 555-0199")
    page.get_by_label("ZIP code").fill("63857")
    page.get_by_label("What is your message about?").select_option(label="Support for my family")
    page.get_by_label("Your message", exact=True).fill("Where can I find a home visiting program near Kennett?")
    page.get_by_label("I agree that the initiative").check()
    page.get_by_role("button", name="Send message").click()
    page.wait_for_load_state()

    assert page.url.endswith(THANKS_PATH)
    reference = reference_on(page)
    assert reference not in page.url
    main = page.locator("main").inner_text()
    assert "Thank you. We received your message." in main
    assert "Bootheel Babies & Families will answer you" in main
    assert_accessible(page)

    inquiry = stored(public_live, reference)
    assert inquiry["name"] == "Jordan Baker"
    assert inquiry["language"] == "en"
    assert sorted(inquiry["emails"]) == ["contact_notice", "requester_ack"]


def test_submit_the_form_in_spanish_after_correcting_a_mistake(new_page, assert_accessible, public_live):
    page = new_page()
    page.goto("/")
    page.get_by_role("link", name="Español").click()
    page.wait_for_load_state()
    assert html_lang(page) == "es"
    assert_accessible(page)

    page.get_by_role("link", name="Póngase en contacto").first.click()
    page.wait_for_load_state()
    assert html_lang(page) == "es"
    assert page.get_by_label("Español").is_checked()  # the answer's language follows the page's
    assert_accessible(page)

    page.get_by_label("Su nombre").fill("María López")
    page.get_by_label("Correo electrónico", exact=True).fill("maria.lopez@example.org")
    page.get_by_label("Código postal (ZIP)").fill("00000")
    page.get_by_label("¿Sobre qué es su mensaje?").select_option(label="Apoyo para mi familia")
    page.get_by_label("Su mensaje", exact=True).fill("Estoy embarazada y busco apoyo en St. Louis.")
    page.get_by_label("Acepto que la iniciativa").check()
    page.get_by_role("button", name="Enviar mensaje").click()
    page.wait_for_load_state()

    # The mistake is explained in Spanish, at the field, with everything else kept.
    assert page.get_by_role("alert").is_visible()
    assert page.locator("#zip_code-error").inner_text() == "No encontramos este código postal. Por favor, revíselo."
    assert page.get_by_label("Su mensaje", exact=True).input_value() == "Estoy embarazada y busco apoyo en St. Louis."
    assert page.get_by_label("Su nombre").input_value() == "María López"
    assert_accessible(page)

    page.get_by_label("Código postal (ZIP)").fill("63103")
    page.get_by_label("Acepto que la iniciativa").check()
    page.get_by_role("button", name="Enviar mensaje").click()
    page.wait_for_load_state()

    assert page.url.endswith(THANKS_PATH)
    assert html_lang(page) == "es"
    reference = reference_on(page)
    main = page.locator("main").inner_text()
    assert "Gracias. Recibimos su mensaje." in main
    assert "Generate Health le responderá" in main
    assert_accessible(page)

    inquiry = stored(public_live, reference)
    assert inquiry["language"] == "es"
    assert inquiry["emails"]["requester_ack"] == f"Recibimos su mensaje (referencia {reference})"


def focused_id(page) -> str:
    return page.evaluate("() => document.activeElement ? document.activeElement.id : ''")


def tab_to(page, element_id: str, limit: int = 25) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused_id(page) == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


def test_submit_the_form_by_keyboard_alone(new_page, public_live):
    page = new_page()
    page.goto("/get-in-touch")

    tab_to(page, "name")
    page.keyboard.type("Casey Keyboard")
    page.keyboard.press("Tab")
    assert focused_id(page) == "contact_preference-0"  # the checked radio: email
    page.keyboard.press("Tab")
    assert focused_id(page) == "email"
    page.keyboard.type("casey.keyboard@example.org")
    page.keyboard.press("Tab")
    assert focused_id(page) == "phone"
    page.keyboard.press("Tab")
    assert focused_id(page) == "zip_code"
    page.keyboard.type("63857")
    page.keyboard.press("Tab")
    assert focused_id(page) == "topic"
    page.keyboard.type("Partnering")  # type-ahead picks the option
    assert page.locator("#topic option:checked").inner_text() == "Partnering or volunteering"
    page.keyboard.press("Tab")
    assert focused_id(page) == "language-0"  # the checked radio: English on an English page
    page.keyboard.press("Tab")
    assert focused_id(page) == "message"
    page.keyboard.type("I would like to volunteer at the spring baby shower.")
    page.keyboard.press("Tab")
    assert focused_id(page) == "consent"  # the honeypot is skipped
    page.keyboard.press("Space")
    assert page.locator("#consent").is_checked()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.type") == "submit"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state()

    assert page.url.endswith(THANKS_PATH)
    inquiry = stored(public_live, reference_on(page))
    assert inquiry["name"] == "Casey Keyboard"
    assert inquiry["topic"] == "Partnering or volunteering"


def test_every_public_page_fits_a_360_pixel_phone(new_page, assert_accessible, public_live):
    page = new_page(width=360, height=740)
    for path in ("/?lang=en", "/get-in-touch", "/?lang=es", "/get-in-touch", "/no-such-page"):
        page.goto(path)
        no_horizontal_scroll(page)
    assert html_lang(page) == "es"  # the choice made above holds on a page that does not exist
    assert_accessible(page)

    # The form with every error showing, and a long unbroken value, still fits.
    page.goto("/get-in-touch?lang=en")
    page.get_by_label("Your name").fill("Averyveryveryverylongnamewithoutanyspacesatallthatgoesonandon")
    page.get_by_role("button", name="Send message").click()
    page.wait_for_load_state()
    assert page.get_by_role("alert").is_visible()
    no_horizontal_scroll(page)

    page.get_by_label("Your name").fill("Sam Phone")
    page.get_by_label("Email address").fill("a.rather.long.address.for.a.small.screen@example.org")
    page.get_by_label("ZIP code").fill("90210")
    page.get_by_label("What is your message about?").select_option(label="Other")
    page.get_by_label("Your message", exact=True).fill("Asking from California for a friend in Missouri.")
    page.get_by_label("I agree that the initiative").check()
    page.get_by_role("button", name="Send message").click()
    page.wait_for_load_state()
    assert page.url.endswith(THANKS_PATH)
    assert "Foundation IMRI Team will answer you" in page.locator("main").inner_text()  # the fallback's
    no_horizontal_scroll(page)
    assert_accessible(page)


def test_a_phone_only_request_by_text_message_on_a_360_pixel_phone(new_page, assert_accessible, public_live):
    page = new_page(width=360, height=740)
    page.goto("/get-in-touch?lang=en")
    page.get_by_label("Your name").fill("Taylor Text")
    page.get_by_label("Text message").check()
    # Asked for a text without a number: the phone number is asked for, the email is not.
    page.get_by_label("ZIP code").fill("63857")
    page.get_by_label("What is your message about?").select_option(label="Support for my family")
    page.get_by_label("Your message", exact=True).fill("Please text me about home visits near Kennett.")
    page.get_by_label("I agree that the initiative").check()
    page.get_by_role("button", name="Send message").click()
    page.wait_for_load_state()
    assert page.locator("#phone-error").inner_text() == "Enter your phone number, so that we can call or text you."
    assert page.locator("#email-error").count() == 0
    assert page.get_by_label("Text message").is_checked()
    no_horizontal_scroll(page)
    assert_accessible(page)

    page.get_by_label("Phone number").fill("573-555-0123")
    page.get_by_label("I agree that the initiative").check()
    page.get_by_role("button", name="Send message").click()
    page.wait_for_load_state()

    assert page.url.endswith(THANKS_PATH)
    reference = reference_on(page)
    main = page.locator("main").inner_text()
    assert "Bootheel Babies & Families will send you a text message" in main
    assert "Please print this page or write the number down" in main
    no_horizontal_scroll(page)
    assert_accessible(page)
    # Printed, the reference stays and the screen-only parts go.
    page.emulate_media(media="print")
    assert page.locator(".reference").is_visible()
    assert not page.locator(".language-switch").is_visible()
    assert not page.get_by_role("link", name="Back to the start page").is_visible()
    page.emulate_media(media="screen")

    inquiry = stored(public_live, reference)
    assert inquiry["name"] == "Taylor Text"
    assert sorted(inquiry["emails"]) == ["contact_notice"]  # no email address: nothing to the family
    with public_live.app_context():
        saved = db.session.scalar(select(Inquiry).where(Inquiry.reference == reference))
        assert (saved.email, saved.phone, saved.contact_preference.value) == ("", "(573) 555-0123", "text")
        assert saved.assigned_contact is not None
        db.session.remove()


def test_the_too_many_attempts_page_is_public_accessible_and_fits_a_phone(new_page, assert_accessible, public_live):
    page = new_page(width=360, height=740)
    page.goto("/get-in-touch?lang=es")
    with app_config(public_live, PUBLIC_FORM_REFUSED_RATE_LIMIT="1 per hour"):
        for _ in range(2):
            page.get_by_role("button", name="Enviar mensaje").click()
            page.wait_for_load_state()
        # The form again, with what was written, and why it was not sent.
        assert page.get_by_role("heading", level=1).inner_text() == "Póngase en contacto"
        assert "Demasiados intentos" in page.get_by_role("alert").inner_text()
        assert page.title().startswith("Demasiados intentos")
    assert html_lang(page) == "es"
    no_horizontal_scroll(page)
    assert_accessible(page)
