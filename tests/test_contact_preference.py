"""How the family wants to be reached: email, a phone call or a text message.

With a call or a text chosen a phone number is needed and the email address may be left
out; without one, nothing is emailed to the family and the thank-you page is the
acknowledgement. The rule itself is tested table-first in tests/unit/test_contact_preference.py.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crm.extensions import db
from crm.models import Contact, ContactPreference, Inquiry, OutboundEmail, Role
from tests.factories import InquiryFactory
from tests.fixtures_world import post_export
from tests.public_support import confirmation_in_session, inquiry_by_reference, public_site, text_of, valid_form

MESSAGE = "Necesito ayuda con las visitas a domicilio para mi bebé."


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="error" id="{field_id}-error">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else ""


def emails_about(inquiry: Inquiry) -> list[OutboundEmail]:
    return list(db.session.scalars(select(OutboundEmail).where(OutboundEmail.inquiry_id == inquiry.id)))


# --- the public form ------------------------------------------------------------------------


@pytest.fixture
def public(app, client):
    with public_site(app):
        yield client


def test_the_form_asks_how_to_reach_the_family_email_first(public):
    html = text_of(public.get("/get-in-touch"))
    assert "How would you like us to reach you?" in html
    for value, label in (("email", "Email"), ("phone", "Phone call"), ("text", "Text message")):
        assert re.search(rf'<input[^>]*name="contact_preference"[^>]*value="{value}"[^>]*> <label[^>]*>{label}</label>', html)
    assert re.search(r'<input checked[^>]*name="contact_preference"[^>]*value="email"', html)


@pytest.mark.parametrize(
    ("language", "preference", "promise", "keep_it"),
    [
        ("en", "text", "Bootheel Babies &amp; Families will send you a text message",
         "Please print this page or write the number down"),
        ("en", "phone", "Bootheel Babies &amp; Families will call you", "Please print this page"),
        ("es", "text", "Bootheel Babies &amp; Families le enviará un mensaje de texto",
         "Imprima esta página o anote el número"),
        ("es", "phone", "Bootheel Babies &amp; Families le llamará", "Imprima esta página"),
    ],
)
def test_a_phone_only_request_is_taken_routed_and_acknowledged_on_the_page_alone(
    public, language, preference, promise, keep_it
):
    public.get(f"/?lang={language}")
    response = public.post(
        "/get-in-touch",
        data=valid_form(public, email="", phone="573-555-0142", contact_preference=preference, language=language),
    )
    assert response.status_code == 302, field_error(text_of(response), "phone")

    inquiry = inquiry_by_reference(confirmation_in_session(public)["reference"])
    assert (inquiry.email, inquiry.phone, inquiry.contact_preference) == ("", "(573) 555-0142", preference)
    assert inquiry.organisation.name == "Bootheel Babies & Families"
    # The contact is told; the family, without an email address, is not emailed.
    assert [email.kind for email in emails_about(inquiry)] == ["contact_notice"]

    html = text_of(public.get(response.headers["Location"]))
    assert inquiry.reference in html
    assert promise in html
    assert keep_it in html
    assert "sent this number to your email" not in html
    assert "enviamos este número a su correo" not in html


def test_with_an_email_too_the_acknowledgement_is_still_emailed(public):
    response = public.post(
        "/get-in-touch", data=valid_form(public, phone="573-555-0142", contact_preference="phone")
    )
    assert response.status_code == 302
    inquiry = inquiry_by_reference(confirmation_in_session(public)["reference"])
    assert inquiry.contact_preference is ContactPreference.PHONE
    assert sorted(email.kind for email in emails_about(inquiry)) == ["contact_notice", "requester_ack"]
    html = text_of(public.get(response.headers["Location"]))
    assert "will call you" in html
    assert "We also sent this number to your email address." in html


@pytest.mark.parametrize(
    ("overrides", "field", "english", "spanish"),
    [
        ({"contact_preference": "text", "phone": ""}, "phone",
         "Enter your phone number, so that we can call or text you.",
         "Escriba su número de teléfono, para que podamos llamarle o enviarle un mensaje de texto."),
        ({"contact_preference": "phone", "phone": "", "email": ""}, "phone",
         "Enter your phone number, so that we can call or text you.",
         "Escriba su número de teléfono, para que podamos llamarle o enviarle un mensaje de texto."),
        ({"contact_preference": "email", "email": "", "phone": "573-555-0142"}, "email",
         "Enter your email address, so that we can answer you.",
         "Escriba su correo electrónico para que podamos responderle."),
        ({"contact_preference": "text", "phone": "12", "email": ""}, "phone",
         "Enter a phone number like (573) 555-0142, or leave this empty.",
         "Escriba un número de teléfono como (573) 555-0142, o deje este campo vacío."),
        ({"contact_preference": "fax"}, "contact_preference",
         "Choose email, a phone call or a text message.",
         "Elija correo electrónico, llamada telefónica o mensaje de texto."),
        ({"contact_preference": ""}, "contact_preference",
         "Choose email, a phone call or a text message.",
         "Elija correo electrónico, llamada telefónica o mensaje de texto."),
    ],
)
def test_what_the_chosen_way_needs_is_asked_for_in_both_languages(public, overrides, field, english, spanish):
    for language, expected in (("en", english), ("es", spanish)):
        public.get(f"/?lang={language}")
        response = public.post("/get-in-touch", data=valid_form(public, message="Keep this text, please.", **overrides))
        assert response.status_code == 422
        html = text_of(response)
        assert field_error(html, field) == expected
        assert "Keep this text, please.</textarea>" in html
        summary_link = f"#{field}-0" if field == "contact_preference" else f"#{field}"
        assert f'href="{summary_link}"' in html
    assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 0


def test_the_same_phone_only_request_twice_is_one_inquiry(public):
    data = {"email": "", "phone": "573-555-0142", "contact_preference": "text", "message": MESSAGE}
    first = public.post("/get-in-touch", data=valid_form(public, **data))
    first_reference = confirmation_in_session(public)["reference"]
    second = public.post("/get-in-touch", data=valid_form(public, **{**data, "phone": "(573) 555 0142"}))
    assert first.status_code == second.status_code == 302
    assert confirmation_in_session(public)["reference"] == first_reference
    assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 1
    # Another number with the same words is another family.
    public.post("/get-in-touch", data=valid_form(public, **{**data, "phone": "573-555-0199"}))
    assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 2


def test_the_thank_you_page_prints_without_what_only_works_on_screen(public):
    public.post("/get-in-touch", data=valid_form(public, email="", phone="573-555-0142", contact_preference="text"))
    html = text_of(public.get("/get-in-touch/thank-you"))
    assert '<p class="no-print"><a href="/">' in html
    css = text_of(public.get("/static/css/app.css"))
    print_rules = css[css.index("@media print") :]
    assert ".public .language-switch" in print_rules
    assert ".public .no-print" in print_rules


# --- staff side: the record, the notice, the export, the database ---------------------------


def test_the_notice_says_how_and_in_which_language_and_nothing_of_the_message(world):
    inquiry = InquiryFactory(
        email="", phone="(573) 555-0142", contact_preference=ContactPreference.TEXT, language="es", message=MESSAGE
    )
    notices = [email for email in emails_about(inquiry) if email.kind == "contact_notice"]
    assert len(notices) == 1
    body = notices[0].body_text
    # Lines of their own, the first after a blank line: the template's {% endif %} at a line's
    # end must not take its line break.
    assert "has been routed to you.\n\nTopic:" in body
    assert "\nPreferred way to reach them: Text message (their number is on the inquiry page)\n" in body
    assert "Requester's language: Spanish" in body
    assert MESSAGE not in body
    assert "555-0142" not in body
    assert [email.kind for email in emails_about(inquiry)] == ["contact_notice"]


def test_an_email_preference_without_an_email_is_refused_by_the_database(world):
    with pytest.raises(IntegrityError, match="ck_inquiries_reachable|CHECK constraint failed"):
        InquiryFactory(email="", phone="(573) 555-0142", contact_preference=ContactPreference.EMAIL)
    db.session.rollback()
    with pytest.raises(IntegrityError, match="ck_inquiries_reachable|CHECK constraint failed"):
        InquiryFactory(email="a@example.org", phone="", contact_preference=ContactPreference.TEXT)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 0


def test_the_inquiry_page_and_the_export_show_the_way(client, login, world):
    inquiry = InquiryFactory(email="", phone="(573) 555-0142", contact_preference=ContactPreference.PHONE)
    login(Role.STAFF)
    page = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    assert re.search(r"<dt>Reach them by</dt><dd>Phone call</dd>", page)

    export = post_export(client)
    assert export.status_code == 200, export.get_data(as_text=True)[:300]
    rows = list(csv.DictReader(io.StringIO(export.get_data().decode("utf-8-sig"), newline="")))
    assert [(row["Reference"], row["Reach by"], row["Email"]) for row in rows] == [
        (inquiry.reference, "Phone call", "")
    ]


def test_a_requester_without_email_is_linked_by_phone_number(client, login, world):
    known = Contact(name="Rosa Caller", email="", phone="(573) 555-0142")
    db.session.add(known)
    db.session.commit()
    by_phone = InquiryFactory(email="", phone="(573) 555-0142", contact_preference=ContactPreference.TEXT)
    stranger = InquiryFactory(email="", phone="(573) 555-0199", contact_preference=ContactPreference.PHONE)
    login(Role.STAFF)

    assert client.post(f"/inquiries/{by_phone.id}/link-contact").status_code == 302
    assert client.post(f"/inquiries/{stranger.id}/link-contact").status_code == 302

    db.session.expire_all()
    assert db.session.get(Inquiry, by_phone.id).requester_contact_id == known.id
    created = db.session.get(Inquiry, stranger.id).requester_contact
    assert (created.id != known.id, created.email, created.phone) == (True, "", "(573) 555-0199")


def test_staff_log_a_text_message_request_without_an_email(client, login, world):
    login(Role.STAFF)
    response = client.post(
        "/inquiries/new",
        data={
            "source": "phone",
            "name": "Rosa Caller",
            "contact_preference": "text",
            "email": "",
            "phone": "573-555-0142",
            "zip_code": "63857",
            "language": "es",
            "message": MESSAGE,
            "consent": "y",
        },
    )
    assert response.status_code == 302
    inquiry = db.session.scalars(select(Inquiry)).one()
    assert inquiry.contact_preference is ContactPreference.TEXT
    assert [email.kind for email in emails_about(inquiry)] == ["contact_notice"]
