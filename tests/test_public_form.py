"""The public pages and the Get in Touch form: content, validation, confirmation and odd requests."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select

from crm.auth.permissions import Access, access_of
from crm.extensions import db
from crm.models import Contact, HeldPost, Inquiry, Organisation, OutboundEmail, RecordStatus, Topic
from crm.models.inquiry_status import InquiryStatus
from crm.routing.services import fallback_contact
from tests.public_support import (
    CSRF_RE,
    app_config,
    confirmation_in_session,
    first_topic_id,
    inquiry_by_reference,
    public_site,
    text_of,
    valid_form,
)


@pytest.fixture
def public(app, client):
    with public_site(app):
        yield client


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="error" id="{field_id}-error">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else ""


def submit(client, **overrides):
    return client.post("/get-in-touch", data=valid_form(client, **overrides))


# --- the start page -------------------------------------------------------------------------


def test_start_page_presents_the_initiative_and_leads_to_the_form(public):
    html = text_of(public.get("/"))
    assert '<html lang="en">' in html
    assert "Infant Mortality Reduction Initiative" in html
    assert "Bootheel" in html
    assert "St. Louis" in html
    assert 'href="/get-in-touch"' in html


def test_start_page_lists_active_backbone_partners_and_their_public_contacts_only(public):
    html = text_of(public.get("/"))
    assert "Bootheel Babies &amp; Families" in html
    assert "Generate Health" in html
    assert "Works alongside families" in html  # the description comes from the database
    assert "Dana Whitfield" in html
    assert "dana.whitfield@bootheel-babies.example.org" in html
    assert "Keisha Thompson" in html
    # Not shown on the public page, or not a backbone partner:
    assert "Lucía Ramírez" not in html
    assert "Foundation IMRI Team" not in html
    assert "Riley Brooks" not in html


def test_start_page_leaves_out_inactive_partners_and_contacts(public):
    generate = db.session.scalar(select(Organisation).where(Organisation.name == "Generate Health"))
    generate.status = RecordStatus.INACTIVE
    dana = db.session.scalar(select(Contact).where(Contact.name == "Dana Whitfield"))
    dana.active = False
    db.session.commit()
    html = text_of(public.get("/"))
    assert "Generate Health" not in html
    assert "Dana Whitfield" not in html
    assert "Bootheel Babies &amp; Families" in html


def test_every_public_route_is_classified_public(app, public):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("public.")]
    assert {rule.rule for rule in rules} == {"/", "/get-in-touch", "/get-in-touch/thank-you"}
    for rule in rules:
        assert access_of(app.view_functions[rule.endpoint]) is Access.PUBLIC, rule.rule


# --- the form -------------------------------------------------------------------------------


def test_form_offers_active_topics_in_sort_order(public):
    topics = db.session.scalars(select(Topic).order_by(Topic.sort_order)).all()
    topics[0].sort_order, topics[1].sort_order = 50, 0  # reorder the first two
    topics[2].active = False
    db.session.commit()
    html = text_of(public.get("/get-in-touch"))
    shown = re.findall(r'<option value="\d+">([^<]+)</option>', html)
    expected = [t.name_en for t in sorted(topics, key=lambda t: t.sort_order) if t.active]
    assert shown == expected
    assert topics[2].name_en not in shown


def test_form_has_every_field_and_a_hidden_honeypot(public):
    html = text_of(public.get("/get-in-touch"))
    for name in ("name", "email", "phone", "zip_code", "topic", "language", "message", "consent", "rendered"):
        assert f'name="{name}"' in html, name
    honeypot = re.search(r'<div class="visually-hidden" aria-hidden="true">.*?</div>', html, re.S).group(0)
    assert 'name="website"' in honeypot
    assert 'tabindex="-1"' in honeypot
    assert 'autocomplete="off"' in honeypot
    assert 'autocomplete="email"' in html
    assert 'autocomplete="postal-code"' in html


def test_valid_submission_is_stored_routed_and_confirmed_without_the_reference_in_the_url(public):
    response = submit(public, name="  Jamie Rivera ", phone="573-555-0142")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == "/get-in-touch/thank-you"

    confirmation = confirmation_in_session(public)
    assert confirmation is not None
    reference = confirmation["reference"]
    assert reference not in location

    inquiry = inquiry_by_reference(reference)
    assert inquiry is not None
    assert inquiry.name == "Jamie Rivera"
    assert inquiry.email == "jamie.rivera@example.org"
    assert inquiry.phone == "(573) 555-0142"
    assert inquiry.zip_code == "63857"
    assert inquiry.topic_id == first_topic_id()
    assert inquiry.language == "en"
    assert inquiry.consent is True
    assert inquiry.status is not InquiryStatus.SPAM
    assert inquiry.spam_reason == ""
    assert inquiry.organisation.name == "Bootheel Babies & Families"
    kinds = sorted(db.session.scalars(select(OutboundEmail.kind).where(OutboundEmail.inquiry_id == inquiry.id)))
    assert kinds == ["contact_notice", "requester_ack"]

    page = public.get(location)
    assert page.status_code == 200
    html = text_of(page)
    assert reference in html
    assert "Bootheel Babies &amp; Families will answer you" in html
    assert '<html lang="en">' in html


def test_confirmation_page_without_a_submission_sends_people_to_the_form(public):
    response = public.get("/get-in-touch/thank-you")
    assert response.status_code == 302
    assert response.headers["Location"] == "/get-in-touch"


def test_confirmation_for_an_out_of_state_zip_names_the_fallbacks_organisation(public):
    response = submit(public, zip_code="90210")
    assert response.status_code == 302
    html = text_of(public.get(response.headers["Location"]))
    expected = fallback_contact().organisation.name
    assert f"{expected} will answer you" in html
    inquiry = inquiry_by_reference(confirmation_in_session(public)["reference"])
    assert inquiry.state == "CA"
    assert inquiry.assigned_contact_id == fallback_contact().id


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("63103", "63103"),
        (" 63857-1234 ", "63857-1234"),
        ("638571234", "63857-1234"),
        ("12345", "12345"),
        # ZIP+4 as often written by hand or on a phone's keypad, with a space for the hyphen.
        ("63857 1234", "63857-1234"),
    ],
)
def test_zip_codes_of_five_digits_or_zip_plus_4_are_accepted(public, typed, stored):
    response = submit(public, zip_code=typed)
    assert response.status_code == 302, field_error(text_of(response), "zip_code")
    assert inquiry_by_reference(confirmation_in_session(public)["reference"]).zip_code == stored


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Enter your name."),
        ("name", "   ", "Enter your name."),
        ("name", "x" * 201, "Your name can be at most 200 characters."),
        ("name", "Jamie\nRivera", "Write your name on one line."),
        ("name", "Jamie\x00Rivera", "Remove the invisible control characters from this field."),
        ("email", "", "Enter your email address, so that we can answer you."),
        ("email", "jamie@", "Enter an email address like name@example.org."),
        ("email", "jamie at example.org", "Enter an email address like name@example.org."),
        ("email", "a" * 250 + "@example.org", "An email address can be at most 254 characters."),
        ("phone", "12", "Enter a phone number like (573) 555-0142, or leave this empty."),
        ("phone", "5" * 41, "A phone number can be at most 40 characters."),
        ("zip_code", "", "Enter your ZIP code."),
        ("zip_code", "6385", "Enter a ZIP code of five digits, like 63857 or 63857-1234."),
        ("zip_code", "63857-12", "Enter a ZIP code of five digits, like 63857 or 63857-1234."),
        ("zip_code", "ABCDE", "Enter a ZIP code of five digits, like 63857 or 63857-1234."),
        ("zip_code", "00000", "We could not find this ZIP code. Please check it."),
        ("topic", "", "Choose what your message is about."),
        ("topic", "999999", "Choose what your message is about."),
        ("topic", "support", "Choose what your message is about."),
        ("language", "fr", "Choose English or Spanish."),
        ("language", "", "Choose English or Spanish."),
        ("message", "", "Write your message."),
        ("message", "x" * 5001, "Your message can be at most 5000 characters. Please shorten it."),
        ("message", "Hello\x07there", "Remove the invisible control characters from this field."),
        ("consent", "", "Tick this box so that we may contact you."),
    ],
)
def test_each_field_explains_what_is_wrong_and_keeps_the_text(public, field, value, message):
    response = submit(public, **{field: value, "message": value if field == "message" else "Keep this text, please."})
    assert response.status_code == 422
    html = text_of(response)
    assert field_error(html, field) == message
    assert 'class="error-summary" role="alert"' in html
    if field != "message":
        assert "Keep this text, please.</textarea>" in html
    assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 0


def test_a_message_of_5000_characters_in_paragraphs_is_taken(public):
    # A browser sends each line break of a text area as CR LF, two characters; the family
    # sees and counts one, as the hint's "Up to 5,000 characters" does.
    paragraphs = "\r\n".join(["x" * 99] * 50)
    assert len(paragraphs.replace("\r\n", "\n")) == 5000 - 1
    response = submit(public, message=paragraphs)
    assert response.status_code == 302, field_error(text_of(response), "message")
    assert inquiry_by_reference(confirmation_in_session(public)["reference"]).message == paragraphs


def test_an_inactive_topic_cannot_be_chosen(public):
    topic = db.session.get(Topic, first_topic_id())
    topic.active = False
    db.session.commit()
    response = submit(public, topic=str(topic.id))
    assert field_error(text_of(response), "topic") == "Choose what your message is about."


def test_missing_fields_altogether_give_messages_not_errors(public):
    response = public.post("/get-in-touch", data={})
    assert response.status_code == 422
    html = text_of(response)
    assert field_error(html, "name") == "Enter your name."
    assert "This page was open for a long time; please send it again." in html


# --- an expired form ------------------------------------------------------------------------


def test_missing_or_forged_render_token_asks_to_send_again_with_the_text_kept(public):
    for token in (None, "", "not-a-token", "ImdldC1pbi10b3VjaCI.awS3_Q.forged-signature-here"):
        response = submit(public, rendered=token, name="Jamie Kept")
        assert response.status_code == 422
        html = text_of(response)
        assert "This page was open for a long time; please send it again." in html
        assert 'value="Jamie Kept"' in html
        assert re.search(r'name="rendered" type="hidden" value="[^"]+"', html)  # a fresh token to send again
    assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 0


@pytest.fixture
def with_csrf(app):
    with app_config(app, WTF_CSRF_ENABLED=True):
        yield


def test_form_carries_a_csrf_token_when_csrf_is_on(public, with_csrf):
    html = text_of(public.get("/get-in-touch"))
    assert CSRF_RE.search(html)
    response = public.post("/get-in-touch", data=valid_form(public, csrf_token=CSRF_RE.search(html).group(1)))
    assert response.status_code == 302


@pytest.mark.parametrize("token", [None, "forged"])
def test_bad_csrf_token_re_renders_the_form_with_a_message_not_a_400(public, with_csrf, token):
    data = valid_form(public, name="Jamie Kept", message="My words stay here.")
    if token is not None:
        data["csrf_token"] = token
    response = public.post("/get-in-touch", data=data)
    assert response.status_code == 422
    html = text_of(response)
    assert "This page was open for a long time; please send it again." in html
    assert 'value="Jamie Kept"' in html
    assert "My words stay here.</textarea>" in html
    assert CSRF_RE.search(html)
    assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 0


def test_expired_csrf_token_re_renders_the_form_with_a_message(public, with_csrf, monkeypatch):
    html = text_of(public.get("/get-in-touch"))
    data = valid_form(public, csrf_token=CSRF_RE.search(html).group(1), name="Jamie Kept")
    later = time.time() + 5 * 60 * 60  # past WTF_CSRF_TIME_LIMIT (4 h), within the render token's day
    monkeypatch.setattr(time, "time", lambda: later)
    response = public.post("/get-in-touch", data=data)
    assert response.status_code == 422
    html = text_of(response)
    assert "This page was open for a long time; please send it again." in html
    assert 'value="Jamie Kept"' in html
    monkeypatch.undo()
    fresh = valid_form(public, csrf_token=CSRF_RE.search(html).group(1))
    assert public.post("/get-in-touch", data=fresh).status_code == 302


# --- requests that are too big or malformed ------------------------------------------------------


def test_a_huge_body_gets_a_friendly_public_413_page(public):
    response = public.post("/get-in-touch", data=valid_form(public, message="x" * (300 * 1024)))
    assert response.status_code == 413
    html = text_of(response)
    assert "That was too much to send at once" in html
    assert 'class="language-switch"' in html  # the public layout, not the staff one
    assert '<html lang="en">' in html


def test_a_huge_body_page_is_in_spanish_for_a_spanish_visitor(public):
    public.get("/?lang=es")
    response = public.post("/get-in-touch", data={"message": "x" * (300 * 1024)})
    assert response.status_code == 413
    html = text_of(response)
    assert '<html lang="es">' in html
    assert "Era demasiado para enviarlo de una vez" in html


def test_a_json_body_is_not_taken_for_the_form(public):
    response = public.post("/get-in-touch", json={"name": 5, "email": ["x"], "consent": True})
    assert response.status_code == 422
    assert field_error(text_of(response), "name") == "Enter your name."


def test_repeated_fields_use_the_first_value(public):
    data = valid_form(public)
    data["name"] = ["Jamie Rivera", "Someone Else"]
    assert public.post("/get-in-touch", data=data).status_code == 302
    assert inquiry_by_reference(confirmation_in_session(public)["reference"]).name == "Jamie Rivera"


def test_invalid_utf8_in_the_body_gives_a_message_not_an_error(public):
    token = valid_form(public)["rendered"]
    body = b"name=%FF%FE&email=a%C3%28@example.org&zip_code=63857&message=%80%81&rendered=" + token.encode()
    response = public.post("/get-in-touch", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code in (302, 422)


def test_without_a_fallback_contact_the_inquiry_is_kept_unrouted_and_acknowledged(app):
    """A misconfigured rule set must not lose a family's request."""
    from crm.database import utcnow
    from crm.inquiries.intake import InquiryDetails, receive

    details = InquiryDetails(
        name="Ana",
        email="ana@example.com",
        phone="",
        zip_code="64106",
        topic=None,
        language="es",
        message="Necesito información",
        consent=True,
    )
    with app.test_request_context():
        inquiry = receive(details, utcnow()).inquiry
    assert inquiry.id is not None
    assert inquiry.status is InquiryStatus.NEW
    assert inquiry.assigned_contact_id is None
    assert inquiry.routing_reason.startswith("Not routed: No fallback contact")
    emails = db.session.scalars(select(OutboundEmail).where(OutboundEmail.inquiry_id == inquiry.id)).all()
    assert [email.to_address for email in emails] == ["ana@example.com"]
    assert "Iniciativa para la Reducción de la Mortalidad Infantil le responderá" in emails[0].body_text


# --- a failure on our side -----------------------------------------------------------------------


def test_a_send_that_fails_on_our_side_shows_the_form_again_with_the_text_kept(app, public, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from crm.public import routes

    def locked(*_args, **_kwargs):
        raise OperationalError("INSERT INTO inquiries ...", {}, Exception("database is locked"))

    monkeypatch.setattr(routes.services, "send_inquiry", locked)
    with app_config(app, PROPAGATE_EXCEPTIONS=False):
        response = submit(public, name="Jamie Kept", message="Every word I wrote stays here.")
    assert response.status_code == 500
    html = text_of(response)
    assert "Your message was not sent" in html
    assert 'value="Jamie Kept"' in html
    assert "Every word I wrote stays here.</textarea>" in html
    assert re.search(r'name="rendered" type="hidden" value="[^"]+"', html)  # ready to send again
    assert "database is locked" not in html
    monkeypatch.undo()
    assert submit(public, name="Jamie Kept").status_code == 302


@pytest.mark.parametrize(("lang", "shown"), [("en", "Permission to contact you"), ("es", "Permiso para contactarle")])
def test_the_error_summary_names_the_consent_box_as_the_page_shows_it(public, lang, shown):
    public.get(f"/get-in-touch?lang={lang}")
    html = text_of(submit(public, consent=None))
    assert f'<a href="#consent">{shown}</a>' in html
    assert f"<legend>{shown}</legend>" in html


# Typed, 39 characters, within the field's 40; written out as "+86 139 1234 5678 ext. ...", 43,
# beyond the column's 40.
LONG_EXTENSION = "+8613912345678 ext 12345678901234567890"


@pytest.mark.parametrize("budget", ["", "1 per hour"], ids=["routed", "held"])
def test_a_phone_number_too_long_once_written_out_is_refused_with_a_message(app, public, budget):
    with app_config(app, PUBLIC_FORM_ROUTING_BUDGET=budget):
        response = public.post("/get-in-touch", data=valid_form(public, phone=LONG_EXTENSION))

    assert response.status_code == 422
    page = text_of(response)
    assert "Enter a phone number like" in page or "número de teléfono" in page
    assert LONG_EXTENSION in page  # what the family typed is kept
    assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 0
    assert db.session.scalar(select(func.count()).select_from(HeldPost)) == 0


@pytest.mark.parametrize(
    ("field", "invisible", "error"),
    [("message", "\u202e\u200b", "Write your message."), ("name", "\u200b\u200e", "Enter your name.")],
)
def test_a_name_or_message_of_invisible_characters_only_is_refused(public, field, invisible, error):
    response = public.post("/get-in-touch", data=valid_form(public, **{field: invisible}))

    assert response.status_code == 422
    assert error in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(Inquiry)) == 0


def test_a_message_with_a_direction_mark_in_its_words_is_taken(public):
    response = public.post("/get-in-touch", data=valid_form(public, message="Necesito ayuda \u200f\u202bمرحبا\u202c."))

    assert response.status_code == 302
