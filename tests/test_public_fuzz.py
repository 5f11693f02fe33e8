"""Bad input never breaks the Get in Touch form, and what is accepted is stored as it was sent.

The documented cleaning (crm/public/forms.py) is str.strip() around each text field; a name or
message that is accepted must read back from the database exactly as sent, less that.

The form's validators see every naughty string in every field; the requests that go through
the app to the database send `naughty_sample()`, and the whole list only in the slow tier.
"""

from __future__ import annotations

import itertools

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from crm.inquiries.held_posts import file_held_posts
from crm.models.inquiry_status import InquiryStatus
from crm.public.forms import InquiryForm
from tests.naughty import naughty_sample, naughty_strings
from tests.public_support import confirmation_in_session, inquiry_by_reference, public_site, text_of, valid_form

FIELDS = ("name", "email", "phone", "zip_code", "topic", "language", "message", "consent", "website", "rendered")
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_unique = itertools.count()


@pytest.fixture
def public(app, client):
    with public_site(app):
        yield client


@pytest.fixture
def base_form(public):
    """A valid submission to vary one field of; the render token is reused (it is not single-use)."""
    return valid_form(public)


def post_with(client, base: dict, field: str, value) -> tuple[int, str]:
    """Send the valid form with one field replaced, under a fresh email so no two are duplicates."""
    data = dict(base)
    if field != "email":
        data["email"] = f"fuzz{next(_unique)}@example.org"
    data[field] = value
    response = client.post("/get-in-touch", data=data)
    return response.status_code, text_of(response)


def check_answer(client, field: str, value, status: int, html: str) -> str | None:
    """None if the form answered sensibly; otherwise what went wrong."""
    if status == 302:
        file_held_posts()  # spam is held as it came, and filed by the job runner
        inquiry = inquiry_by_reference(confirmation_in_session(client)["reference"])
        if inquiry is None:
            return "accepted, but no inquiry was stored"
        if field in ("name", "message") and getattr(inquiry, field) != value.strip():
            return f"stored {getattr(inquiry, field)!r}"
        if field == "website" and value.strip() and inquiry.status is not InquiryStatus.SPAM:
            return "a filled honeypot was not marked as spam"
        return None
    if status == 422:
        if 'class="error-summary" role="alert"' not in html:
            return "422 without an error summary"
        return None
    return f"answered {status}"


VALID = {
    "name": "Jamie Rivera",
    "email": "jamie.rivera@example.org",
    "phone": "",
    "zip_code": "63857",
    "topic": "1",
    "language": "en",
    "message": "We are expecting our first baby and would like to know what support there is nearby.",
    "consent": "y",
    "website": "",
    "rendered": "token",
}


def validate(data: dict) -> InquiryForm:
    form = InquiryForm(formdata=MultiDict(data), meta={"csrf": False})
    form.set_topics([(1, "Home visits")], "Choose a topic")
    form.validate()
    return form


def test_the_validators_take_or_refuse_every_naughty_string_in_every_field(app: Flask):
    """No request, no database: every string in every field, alone. A field either keeps the
    string (less the strip around it, for the text the family wrote) or says why not."""
    problems = []
    with app.test_request_context("/get-in-touch", method="POST"):
        assert validate(VALID).errors == {}
        for value in naughty_strings():
            for field in FIELDS:
                try:
                    form = validate(dict(VALID, **{field: value}))
                except Exception as error:  # any exception is the finding
                    problems.append((field, value, repr(error)))
                    continue
                errors = [str(message) for message in form.errors.get(field, [])]
                if not all(errors):
                    problems.append((field, value, f"errors {errors!r}"))
                elif not errors and field in ("name", "message") and form[field].data != value.strip():
                    problems.append((field, value, f"kept {form[field].data!r}"))
    assert problems == []


ALL_OR_SAMPLE = [
    pytest.param(naughty_sample, id="sample"),
    pytest.param(naughty_strings, id="all", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("strings", ALL_OR_SAMPLE)
def test_naughty_strings_as_name_and_message_read_back_unchanged(public, base_form, strings):
    """Each string goes in as both name and message; a name refused (say, for a line break) is
    sent again with a plain name, so the message is tried on its own."""
    problems, messages_accepted = [], 0
    for value in strings():
        status, html = post_with(public, dict(base_form, message=value), "name", value)
        if status == 302:
            problems += [(value, problem) for field in ("name", "message")
                         if (problem := check_answer(public, field, value, status, html))]
            messages_accepted += 1
            continue
        if (problem := check_answer(public, "name", value, status, html)):
            problems.append((value, problem))
        if 'id="message-error"' not in html:
            status, html = post_with(public, base_form, "message", value)
            if (problem := check_answer(public, "message", value, status, html)):
                problems.append((value, problem))
            messages_accepted += status == 302
    assert problems == []
    # Most of the list is ordinary printable text: a message must take it, not refuse it.
    assert messages_accepted > len(strings()) * 0.8


OTHER_FIELDS = ("email", "phone", "zip_code", "topic", "language", "consent", "website", "rendered")
CONTACT_FIELDS = ("email", "phone", "zip_code")


@pytest.mark.parametrize("strings", ALL_OR_SAMPLE)
def test_naughty_strings_in_every_other_field(public, base_form, strings):
    """Each string goes into all the other fields at once (one post each); where a contact
    field took the string, it is sent again in that field alone, with the rest valid, so it
    goes all the way to the database and the outbox."""
    problems = []
    for value in strings():
        data = dict(base_form, **dict.fromkeys(OTHER_FIELDS, value))
        response = public.post("/get-in-touch", data=data)
        html = text_of(response)
        if (problem := check_answer(public, "all", value, response.status_code, html)):
            problems.append((value, "all fields", problem))
            continue
        for field in CONTACT_FIELDS:
            if response.status_code == 422 and f'id="{field}-error"' in html:
                continue
            status, alone = post_with(public, base_form, field, value)
            if (problem := check_answer(public, field, value, status, alone)):
                problems.append((value, field, problem))
    assert problems == []


@FUZZ
@given(field=st.sampled_from(FIELDS), value=st.text(max_size=300))
def test_any_text_in_any_field(public, base_form, field, value):
    status, html = post_with(public, base_form, field, value)
    assert check_answer(public, field, value, status, html) is None


printable = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=250)


@FUZZ
@given(name=printable, message=printable)
def test_accepted_names_and_messages_read_back_unchanged(public, base_form, name, message):
    data = dict(base_form, name=name, message=message, email=f"fuzz{next(_unique)}@example.org")
    response = public.post("/get-in-touch", data=data)
    if response.status_code == 302:
        inquiry = inquiry_by_reference(confirmation_in_session(public)["reference"])
        assert inquiry.name == name.strip()
        assert inquiry.message == message.strip()
    else:
        assert response.status_code == 422
        html = text_of(response)
        assert 'id="name-error"' in html or 'id="message-error"' in html


wrong_types = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.text(max_size=30), min_size=0, max_size=4),
)


@FUZZ
@given(field=st.sampled_from(FIELDS), value=wrong_types)
def test_numbers_booleans_and_repeated_values_in_any_field(public, base_form, field, value):
    status, html = post_with(public, base_form, field, value)
    assert status in (302, 422), html[:500]


@FUZZ
@given(body=st.binary(max_size=2000))
def test_any_bytes_as_the_body(public, body):
    for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "text/plain"):
        response = public.post("/get-in-touch", data=body, content_type=content_type)
        assert response.status_code in (302, 400, 413, 422), (content_type, response.status_code)
        if response.status_code == 400:
            assert 'class="language-switch"' in text_of(response)


@FUZZ
@given(query=st.text(max_size=100))
def test_any_query_string_on_the_public_pages(public, query):
    for path in ("/", "/get-in-touch", "/get-in-touch/thank-you"):
        response = public.get(path, query_string={"lang": query, query: query})
        assert response.status_code in (200, 302)
