"""English and Spanish: the switch, Accept-Language, translated messages and emails, and the catalogue."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel import support
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask_wtf.i18n import translations as flask_wtf_translations
from sqlalchemy import select

from crm.demo import BOOTHEEL_BABIES, FALLBACK_EMAIL, GENERATE_HEALTH
from crm.extensions import db
from crm.models import Contact, Organisation, OutboundEmail, Topic
from crm.public.i18n import WTFormsMessages, answers_as_public_page, remember_language_choice, select_locale
from crm.public.services import description_for
from tests.public_support import confirmation_in_session, inquiry_by_reference, public_site, text_of, valid_form

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "crm" / "translations"
PO_FILE = TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.po"
MO_FILE = TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.mo"
POT_FILE = TRANSLATIONS / "messages.pot"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "pgettext": ((1, "c"), 2)}


@pytest.fixture
def public(app, client):
    with public_site(app):
        yield client


def html_lang(html: str) -> str:
    return re.search(r"<html lang=\"([a-z]+)\">", html).group(1)


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="error" id="{field_id}-error">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else ""


# --- choosing the language ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/get-in-touch"])
def test_pages_are_english_by_default(public, path):
    html = text_of(public.get(path))
    assert html_lang(html) == "en"
    assert 'href="' + path + '?lang=es"' in html
    assert ">Español</a>" in html


@pytest.mark.parametrize("path", ["/", "/get-in-touch"])
def test_the_switch_link_sets_the_language_for_later_pages(public, path):
    html = text_of(public.get(path + "?lang=es"))
    assert html_lang(html) == "es"
    assert "Póngase en contacto" in html
    with public.session_transaction() as session:
        assert session["language"] == "es"
    # Later pages, without the parameter, stay in Spanish...
    assert html_lang(text_of(public.get("/get-in-touch"))) == "es"
    assert html_lang(text_of(public.get("/"))) == "es"
    # ...until the other link is followed.
    assert html_lang(text_of(public.get("/?lang=en"))) == "en"
    assert html_lang(text_of(public.get("/get-in-touch"))) == "en"


@pytest.mark.parametrize(
    ("header", "expected"),
    [("es", "es"), ("es-MX,es;q=0.9,en;q=0.5", "es"), ("en-US,en;q=0.9,es;q=0.8", "en"), ("fr-FR,fr", "en"), ("", "en")],
)
def test_without_a_choice_the_browser_language_decides(public, header, expected):
    html = text_of(public.get("/get-in-touch", headers={"Accept-Language": header}))
    assert html_lang(html) == expected


def test_the_switch_wins_over_the_browser_language(public):
    public.get("/?lang=en")
    html = text_of(public.get("/get-in-touch", headers={"Accept-Language": "es"}))
    assert html_lang(html) == "en"


def test_an_unknown_language_is_ignored(public):
    html = text_of(public.get("/?lang=fr", headers={"Accept-Language": "es"}))
    assert html_lang(html) == "es"
    with public.session_transaction() as session:
        assert "language" not in session


def test_staff_pages_stay_in_english(app, public):
    with app.test_request_context("/login?lang=es", headers={"Accept-Language": "es"}):
        assert select_locale() == "en"
    with app.test_request_context("/get-in-touch", headers={"Accept-Language": "es"}):
        assert select_locale() == "es"


def test_a_staff_address_no_route_matches_gets_the_english_error_page_whatever_the_language(public):
    """The page is the staff layout (<html lang="en">), so its text stays English too. (A public
    address no route matches answers in the visitor's language: see the tests above.)"""
    response = public.get("/organisations/no-such-page?lang=es", headers={"Accept-Language": "es"})

    assert response.status_code == 404
    html = text_of(response)
    assert "We could not find that page" in html
    assert "No encontramos" not in html


@pytest.mark.parametrize(
    ("lang", "advice"),
    [
        ("en", "Please shorten what you wrote and try again."),
        ("es", "Por favor, acorte lo que escribió e inténtelo de nuevo."),
    ],
)
def test_a_public_error_page_speaks_the_visitors_language(app, public, lang, advice):
    public.get(f"/get-in-touch?lang={lang}")
    response = public.post("/get-in-touch", data={"message": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1024)})

    assert response.status_code == 413
    assert html_lang(response.get_data(as_text=True)) == lang
    assert advice in text_of(response)


def test_a_staff_error_page_keeps_its_own_advice(app, client):
    response = client.post("/login", data={"email": "someone@example.org", "password": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1024)})

    assert response.status_code == 413
    assert "Please shorten what you entered and try again." in text_of(response)


# --- what a Spanish-speaking visitor sees -------------------------------------------------------


def test_spanish_form_shows_spanish_labels_topics_and_preselects_spanish(public):
    html = text_of(public.get("/get-in-touch?lang=es"))
    for text in ("Su nombre", "Correo electrónico", "Número de teléfono", "Código postal (ZIP)", "¿Cómo prefiere que nos comuniquemos con usted?", "Por mensaje de texto", "Su mensaje",
                 "Enviar mensaje", "Elija un tema"):
        assert text in html, text
    topics = db.session.scalars(select(Topic.name_es).where(Topic.active.is_(True)).order_by(Topic.sort_order)).all()
    assert re.findall(r'<option value="\d+">([^<]+)</option>', html) == topics
    assert re.search(r'<input checked id="language-1" name="language" required type="radio" value="es">', html)


def test_english_form_shows_english_topic_names(public):
    html = text_of(public.get("/get-in-touch?lang=en"))
    assert "Support for my family" in html
    assert "Apoyo para mi familia" not in html


@pytest.mark.parametrize(
    ("field", "value", "english", "spanish"),
    [
        ("name", "", "Enter your name.", "Escriba su nombre."),
        ("email", "nope", "Enter an email address like name@example.org.",
         "Escriba un correo electrónico como nombre@ejemplo.org."),
        ("zip_code", "99999", "We could not find this ZIP code. Please check it.",
         "No encontramos este código postal. Por favor, revíselo."),
        ("zip_code", "123", "Enter a ZIP code of five digits, like 63857 or 63857-1234.",
         "Escriba un código postal de cinco dígitos, como 63857 o 63857-1234."),
        ("topic", "", "Choose what your message is about.", "Elija el tema de su mensaje."),
        ("message", "x" * 5001, "Your message can be at most 5000 characters. Please shorten it.",
         "Su mensaje puede tener como máximo 5000 caracteres. Por favor, acórtelo."),
        ("consent", "", "Tick this box so that we may contact you.", "Marque esta casilla para que podamos contactarle."),
        ("phone", "12", "Enter a phone number like (573) 555-0142, or leave this empty.",
         "Escriba un número de teléfono como (573) 555-0142, o deje este campo vacío."),
    ],
)
def test_validation_messages_in_both_languages(public, field, value, english, spanish):
    for language, expected in (("en", english), ("es", spanish)):
        public.get(f"/?lang={language}")
        response = public.post("/get-in-touch", data=valid_form(public, **{field: value}))
        assert response.status_code == 422
        html = text_of(response)
        assert html_lang(html) == language
        assert field_error(html, field) == expected


def test_expired_form_message_in_spanish(public):
    public.get("/?lang=es")
    html = text_of(public.post("/get-in-touch", data=valid_form(public, rendered="expired")))
    assert "Esta página estuvo abierta mucho tiempo; por favor, envíela de nuevo." in html


def test_spanish_confirmation_page_and_acknowledgement_email(public):
    public.get("/?lang=es")
    response = public.post("/get-in-touch", data=valid_form(public, language="es", name="Ana Morales"))
    assert response.status_code == 302
    html = text_of(public.get(response.headers["Location"]))
    assert html_lang(html) == "es"
    reference = confirmation_in_session(public)["reference"]
    assert reference in html
    assert "Bootheel Babies &amp; Families le responderá" in html

    inquiry = inquiry_by_reference(reference)
    assert inquiry.language == "es"
    ack = next(email for email in inquiry_emails(inquiry) if email.kind == "requester_ack")
    assert ack.subject == f"Recibimos su mensaje (referencia {reference})"
    assert ack.body_text.startswith("Hola, Ana Morales:")
    assert f"Su número de referencia es {reference}." in ack.body_text
    assert "Bootheel Babies & Families le responderá" in ack.body_text


def test_the_email_follows_the_chosen_language_not_the_page(public):
    public.get("/?lang=es")
    response = public.post("/get-in-touch", data=valid_form(public, language="en"))
    assert response.status_code == 302
    inquiry = inquiry_by_reference(confirmation_in_session(public)["reference"])
    ack = next(email for email in inquiry_emails(inquiry) if email.kind == "requester_ack")
    assert ack.subject.startswith("We received your message (reference ")
    assert ack.body_text.startswith("Hello Jamie Rivera,")


def test_a_held_send_is_thanked_in_spanish_naming_the_initiative_in_spanish(public):
    # Held (here as spam; a send in a flood alike), nothing routed yet: the page names the initiative.
    public.get("/?lang=es")
    response = public.post("/get-in-touch", data=valid_form(public, language="es", website="https://example.com"))
    html = text_of(public.get(response.headers["Location"]))
    assert "Iniciativa para la Reducción de la Mortalidad Infantil le responderá" in html
    assert "Infant Mortality Reduction Initiative" not in html


def test_an_unrouted_send_is_acknowledged_in_spanish_naming_the_initiative_in_spanish(public):
    # No fallback contact: the request is kept, with nobody, and still acknowledged.
    fallback = db.session.scalar(select(Contact).where(Contact.email == FALLBACK_EMAIL))
    fallback.is_inquiry_fallback = False
    db.session.commit()
    public.get("/?lang=es")
    response = public.post("/get-in-touch", data=valid_form(public, language="es", zip_code="64106"))
    html = text_of(public.get(response.headers["Location"]))
    assert "Infant Mortality Reduction Initiative" not in html
    inquiry = inquiry_by_reference(confirmation_in_session(public)["reference"])
    ack = next(email for email in inquiry_emails(inquiry) if email.kind == "requester_ack")
    assert "Iniciativa para la Reducción de la Mortalidad Infantil le responderá" in ack.body_text
    assert "Infant Mortality Reduction Initiative" not in ack.body_text


def inquiry_emails(inquiry):
    return db.session.scalars(select(OutboundEmail).where(OutboundEmail.inquiry_id == inquiry.id)).all()


# --- the partners, described in the page's language ------------------------------------------

BOOTHEEL_ENGLISH = "Works alongside families and local partners"
BOOTHEEL_SPANISH = "Trabaja junto a las familias y los aliados locales"
GENERATE_ENGLISH = "Backbone partner of the initiative in St. Louis."
GENERATE_SPANISH = "Organización coordinadora de la iniciativa en St. Louis."


def partner_description(html: str, name: str) -> tuple[str | None, str]:
    """(its lang attribute, its text) of the description paragraph under a partner's heading."""
    heading = re.escape(f"<h3>{name.replace('&', '&amp;')}</h3>")
    match = re.search(heading + r'\s*<p(?: lang="([a-z]+)")?>(.*?)</p>', html, re.S)
    assert match, f"no description under {name}"
    return match.group(1), match.group(2)


@pytest.mark.parametrize(
    ("english", "spanish", "language", "shown"),
    [
        ("In English.", "En español.", "es", ("En español.", "es")),
        ("In English.", "En español.", "en", ("In English.", "en")),
        ("In English.", "", "es", ("In English.", "en")),  # no Spanish yet: English, said to be English
        ("In English.", "   ", "es", ("In English.", "en")),
        ("", "En español.", "en", ("", "en")),  # an English page never shows Spanish
        ("", "", "es", ("", "en")),
    ],
)
def test_which_description_a_page_shows(english, spanish, language, shown):
    assert description_for(english, spanish, language) == shown


def test_the_spanish_start_page_describes_the_partners_in_spanish(public):
    html = text_of(public.get("/?lang=es"))
    assert html_lang(html) == "es"
    for name, spanish, english in ((BOOTHEEL_BABIES, BOOTHEEL_SPANISH, BOOTHEEL_ENGLISH),
                                   (GENERATE_HEALTH, GENERATE_SPANISH, GENERATE_ENGLISH)):
        lang, text = partner_description(html, name)
        assert lang is None, "Spanish on a Spanish page needs no lang of its own"
        assert spanish in text
        assert english not in html


def test_the_english_start_page_describes_the_partners_in_english(public):
    html = text_of(public.get("/?lang=en"))
    for name, spanish, english in ((BOOTHEEL_BABIES, BOOTHEEL_SPANISH, BOOTHEEL_ENGLISH),
                                   (GENERATE_HEALTH, GENERATE_SPANISH, GENERATE_ENGLISH)):
        lang, text = partner_description(html, name)
        assert lang is None
        assert english in text
        assert spanish not in html


def test_without_a_spanish_description_the_english_one_is_shown_marked_as_english(public):
    generate = db.session.scalar(select(Organisation).where(Organisation.name == GENERATE_HEALTH))
    generate.description_es = ""
    db.session.commit()
    html = text_of(public.get("/?lang=es"))
    assert partner_description(html, GENERATE_HEALTH) == ("en", generate.description)
    lang, text = partner_description(html, BOOTHEEL_BABIES)
    assert (lang, BOOTHEEL_SPANISH in text) == (None, True)


# --- a page that does not exist --------------------------------------------------------------

SPANISH_NOT_FOUND = "No encontramos esa página"
ENGLISH_NOT_FOUND = "We could not find that page"


def uses_public_layout(html: str) -> bool:
    return '<body class="public">' in html and 'class="language-switch"' in html


@pytest.mark.parametrize("path", ["/nope", "/get-in-touch/nope", "/no/such/page.html", "/get-in-touch/thank-you/x"])
@pytest.mark.parametrize("how", ["link", "session", "browser"])
def test_an_unknown_address_answers_in_spanish_with_the_public_layout(public, path, how):
    headers = {}
    if how == "link":
        path += "?lang=es"
    elif how == "session":
        public.get("/?lang=es")
    else:
        headers = {"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}
    response = public.get(path, headers=headers)
    assert response.status_code == 404
    html = text_of(response)
    assert html_lang(html) == "es"
    assert uses_public_layout(html)
    assert f"<h1>{SPANISH_NOT_FOUND}</h1>" in html
    assert "Error 404" in html
    assert ENGLISH_NOT_FOUND not in html
    # The switch offers the start page in English, where a visitor can find their way.
    assert 'href="/?lang=en"' in html


def test_an_unknown_address_remembers_a_spanish_link_for_later_pages(public):
    public.get("/nope?lang=es")
    assert html_lang(text_of(public.get("/get-in-touch"))) == "es"


def test_an_unknown_address_without_a_choice_is_english_with_the_public_layout(public):
    html = text_of(public.get("/nope"))
    assert html_lang(html) == "en"
    assert uses_public_layout(html)
    assert f"<h1>{ENGLISH_NOT_FOUND}</h1>" in html


def test_a_method_the_public_pages_do_not_take_answers_in_spanish(public):
    response = public.put("/get-in-touch?lang=es")
    assert response.status_code == 405
    html = text_of(response)
    assert html_lang(html) == "es"
    assert uses_public_layout(html)
    assert "Esa acción no está permitida aquí" in html


@pytest.mark.parametrize(
    "path", ["/organisations/nope", "/organisations/not-a-number/edit", "/dashboard/nope", "/login/nope", "/admin/nope"]
)
def test_unknown_staff_addresses_keep_their_english_page(public, path):
    public.get("/?lang=es")  # even with Spanish chosen and asked for
    response = public.get(path + "?lang=es", headers={"Accept-Language": "es"})
    assert response.status_code == 404
    html = text_of(response)
    assert html_lang(html) == "en"
    assert not uses_public_layout(html)
    assert f"<h1>{ENGLISH_NOT_FOUND}</h1>" in html
    assert SPANISH_NOT_FOUND not in html


@pytest.mark.parametrize(
    ("path", "public_page"),
    [
        ("/nope", True),
        ("/get-in-touch/nope", True),
        ("/", True),
        ("/get-in-touch", True),
        ("/organisations/nope", False),
        ("/organisations/", False),
        ("/login", False),
        ("/login/nope", False),
        ("/static/nope.css", False),  # a missing file is no page
    ],
)
def test_which_addresses_answer_as_public_pages(app, path, public_page):
    with app.test_request_context(path):
        assert answers_as_public_page() is public_page


# --- the catalogue --------------------------------------------------------------------------


def read_catalog():
    with PO_FILE.open("rb") as handle:
        return read_po(handle, locale="es")


def messages_of(catalog) -> dict[tuple[str, str | None], object]:
    return {(message.id if isinstance(message.id, str) else message.id[0], message.context): message.string
            for message in catalog if message.id}


def test_every_message_is_translated_and_none_is_fuzzy():
    catalog = read_catalog()
    assert not catalog.fuzzy
    untranslated = [message.id for message in catalog if message.id and not message.string]
    fuzzy = [message.id for message in catalog if message.id and message.fuzzy]
    assert untranslated == []
    assert fuzzy == []
    problems = [(message.id, errors) for message, errors in catalog.check()]
    assert problems == []  # placeholders like %(reference)s survive translation


def test_the_mo_file_is_compiled_from_the_current_po_file(tmp_path):
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog())
    (tmp_path / "fresh.mo").write_bytes(compiled.getvalue())
    with (tmp_path / "fresh.mo").open("rb") as fresh, MO_FILE.open("rb") as shipped:
        assert messages_of(read_mo(shipped)) == messages_of(read_mo(fresh))


def test_every_string_in_the_code_and_templates_is_in_the_catalogue():
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    in_source = {
        message if isinstance(message, str) else message[0]
        for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS
        )
    }
    in_catalogue = {message.id if isinstance(message.id, str) else message.id[0] for message in read_catalog()}
    with POT_FILE.open("rb") as handle:
        in_template = {message.id if isinstance(message.id, str) else message.id[0] for message in read_po(handle)}
    assert sorted(in_source - in_catalogue) == [], "run the pybabel commands in babel.cfg"
    assert sorted(in_source - in_template) == [], "run the pybabel commands in babel.cfg"
    assert "We received your message (reference %(reference)s)" in in_catalogue  # crm/mail/outbox.py
    assert "Hello %(name)s," in in_catalogue  # templates/email/requester_ack.txt


# --- WTForms' own messages, read once per process -----------------------------------------------


def test_wtforms_messages_are_spanish_on_a_spanish_page(app):
    with app.test_request_context("/get-in-touch?lang=es"):
        remember_language_choice()
        assert WTFormsMessages().gettext("Not a valid choice.") == flask_wtf_translations.gettext("Not a valid choice.")
        assert WTFormsMessages().gettext("Not a valid choice.") != "Not a valid choice."


def test_a_post_reads_no_wtforms_catalogue_from_disk(public, monkeypatch):
    public.get("/?lang=es")
    assert public.post("/get-in-touch", data=valid_form(public, email="first@example.net")).status_code == 302
    loaded = []
    real_load = support.Translations.load

    def load(*args, **kwargs):
        loaded.append(kwargs.get("domain"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(support.Translations, "load", load)
    assert public.post("/get-in-touch", data=valid_form(public, email="second@example.net")).status_code == 302
    assert "wtforms" not in loaded
