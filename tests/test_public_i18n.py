"""English and Spanish: the switch, Accept-Language, translated messages and emails, and the catalogue."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from sqlalchemy import select

from crm.extensions import db
from crm.models import OutboundEmail, Topic
from crm.public.i18n import select_locale
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


def test_an_address_no_route_matches_gets_the_english_error_page_whatever_the_language(public):
    """The page is the staff layout (<html lang="en">), so its text stays English too."""
    response = public.get("/no-such-page?lang=es", headers={"Accept-Language": "es"})

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
    for text in ("Su nombre", "Correo electrónico", "Teléfono (opcional)", "Código postal (ZIP)", "Su mensaje",
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


def inquiry_emails(inquiry):
    return db.session.scalars(select(OutboundEmail).where(OutboundEmail.inquiry_id == inquiry.id)).all()


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
