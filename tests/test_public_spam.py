"""Spam defences: honeypot, render time, rate limit (also with Redis down) and duplicates."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from config import TestConfig
from crm import create_app
from crm.demo import seed_demo
from crm.extensions import db, limiter
from crm.models import Inquiry, OutboundEmail
from crm.models.inquiry_status import InquiryStatus
from crm.public import spam
from crm.public.spam import Timing, judge_timing
from tests.public_support import (
    app_config,
    confirmation_in_session,
    inquiry_by_reference,
    public_site,
    text_of,
    valid_form,
)


@pytest.fixture
def public(app, client):
    with public_site(app):
        yield client


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def shown_page(client, response) -> str:
    assert response.status_code == 302
    assert response.headers["Location"] == "/get-in-touch/thank-you"
    return text_of(client.get(response.headers["Location"]))


# --- the render-time rule, table first ------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "minimum", "expected"),
    [
        (None, 3, Timing.EXPIRED),
        (timedelta(seconds=-5), 3, Timing.EXPIRED),
        (timedelta(0), 3, Timing.TOO_FAST),
        (timedelta(seconds=2.9), 3, Timing.TOO_FAST),
        (timedelta(seconds=3), 3, Timing.OK),
        (timedelta(minutes=20), 3, Timing.OK),
        (timedelta(hours=23, minutes=59), 3, Timing.OK),
        (timedelta(days=1, seconds=1), 3, Timing.EXPIRED),
        (timedelta(0), 0, Timing.OK),
    ],
)
def test_judge_timing(age, minimum, expected):
    assert judge_timing(age, minimum) is expected


def test_form_age_reads_only_our_own_signed_tokens(app):
    with app.test_request_context():
        now = datetime.now(UTC)
        token = spam.issue_form_token()
        assert timedelta(0) <= spam.form_age(token, now + timedelta(seconds=1)) <= timedelta(seconds=2)
        assert spam.form_age(token[:-2] + "xx", now) is None
        assert spam.form_age("", now) is None
        assert spam.form_age(None, now) is None
        assert spam.form_age("a" * 5000, now) is None
        assert spam.form_age("ünïcødé.токен.签名", now) is None
    with app_config(app, SECRET_KEY="another secret entirely, as on another deployment"), app.test_request_context():
        assert spam.form_age(token, now) is None


# --- honeypot and render time ----------------------------------------------------------------


def test_a_filled_honeypot_is_kept_as_spam_unrouted_and_the_bot_sees_an_ordinary_confirmation(public):
    response = public.post("/get-in-touch", data=valid_form(public, website="https://cheap-pills.example"))
    html = shown_page(public, response)
    assert "Thank you. We received your message." in html
    assert "will answer you" in html

    reference = confirmation_in_session(public)["reference"]
    assert reference in html
    inquiry = inquiry_by_reference(reference)
    # The reference shown is the spam record's own, never that of a real routed inquiry.
    assert inquiry.status is InquiryStatus.SPAM
    assert "website" in inquiry.spam_reason
    assert inquiry.assigned_contact_id is None
    assert inquiry.routed_at is None
    assert inquiry.organisation_id is None
    assert count(OutboundEmail) == 0
    assert count(Inquiry) == 1


def test_a_form_sent_back_too_fast_is_taken_for_a_bot(app, public):
    with app_config(app, PUBLIC_FORM_MIN_SECONDS=3):
        response = public.post("/get-in-touch", data=valid_form(public))  # right after showing it
        html = shown_page(public, response)
    assert "Thank you. We received your message." in html
    inquiry = inquiry_by_reference(confirmation_in_session(public)["reference"])
    assert inquiry.status is InquiryStatus.SPAM
    assert "after the form was shown" in inquiry.spam_reason
    assert inquiry.assigned_contact_id is None
    assert count(OutboundEmail) == 0


def test_a_form_sent_after_the_minimum_time_goes_through(app, public, monkeypatch):
    data = valid_form(public)
    # A form shown ten seconds ago: sign the token with an older timestamp.
    signed_at = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: signed_at(self) - 10)
    with app.test_request_context():
        data["rendered"] = spam.issue_form_token()
    monkeypatch.undo()
    with app_config(app, PUBLIC_FORM_MIN_SECONDS=3):
        response = public.post("/get-in-touch", data=data)
    shown_page(public, response)
    inquiry = inquiry_by_reference(confirmation_in_session(public)["reference"])
    assert inquiry.status is not InquiryStatus.SPAM
    assert inquiry.spam_reason == ""


def test_a_form_shown_over_a_day_ago_is_asked_again_and_nothing_is_stored(app, public, monkeypatch):
    signed_at = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: signed_at(self) - 25 * 60 * 60)
    with app.test_request_context():
        old_token = spam.issue_form_token()
    monkeypatch.undo()
    response = public.post("/get-in-touch", data=valid_form(public, rendered=old_token, name="Still Here"))
    assert response.status_code == 422
    html = text_of(response)
    assert "This page was open for a long time; please send it again." in html
    assert 'value="Still Here"' in html
    assert count(Inquiry) == 0


def test_a_bot_that_never_loaded_the_form_stores_nothing(public):
    data = valid_form(public, website="spam")
    del data["rendered"]
    response = public.post("/get-in-touch", data=data)
    assert response.status_code == 422
    assert count(Inquiry) == 0


# --- duplicates --------------------------------------------------------------------------------


def test_the_same_email_and_message_twice_make_one_inquiry_and_the_same_confirmation(public):
    first = shown_page(public, public.post("/get-in-touch", data=valid_form(public)))
    reference = confirmation_in_session(public)["reference"]
    again = valid_form(public, message="  We are expecting our first baby and would like to know what support "
                                       "there is nearby.  ", name="Jamie R.")
    second = shown_page(public, public.post("/get-in-touch", data=again))
    assert confirmation_in_session(public)["reference"] == reference
    assert reference in first
    assert reference in second
    assert "Bootheel Babies &amp; Families will answer you" in second
    assert count(Inquiry) == 1
    assert count(OutboundEmail) == 2  # one notice and one acknowledgement, not four


def test_a_different_message_is_a_new_inquiry(public):
    shown_page(public, public.post("/get-in-touch", data=valid_form(public)))
    shown_page(public, public.post("/get-in-touch", data=valid_form(public, message="Another question.")))
    assert count(Inquiry) == 2


# --- rate limit --------------------------------------------------------------------------------


def test_the_rate_limit_answers_with_a_friendly_page_in_the_visitors_language(app, public):
    with app_config(app, PUBLIC_FORM_RATE_LIMIT="2 per minute"):
        public.get("/?lang=es")
        for _ in range(2):
            assert public.post("/get-in-touch", data=valid_form(public, name="")).status_code == 422
        response = public.post("/get-in-touch", data=valid_form(public))
        assert response.status_code == 429
        html = text_of(response)
        assert '<html lang="es">' in html
        assert "Demasiados intentos" in html
        assert "espere unos minutos" in html
        assert 'class="language-switch"' in html
        # Reading the form is never limited.
        assert public.get("/get-in-touch").status_code == 200
    assert count(Inquiry) == 0


def test_the_rate_limit_page_in_english(app, public):
    with app_config(app, PUBLIC_FORM_RATE_LIMIT="1 per minute"):
        public.post("/get-in-touch", data={})
        response = public.post("/get-in-touch", data={})
    assert response.status_code == 429
    assert "Too many attempts" in text_of(response)


def test_the_default_rate_limit_is_five_a_minute(app, public):
    with app_config(app, PUBLIC_FORM_RATE_LIMIT="unused"):
        del app.config["PUBLIC_FORM_RATE_LIMIT"]  # as in production, where config.py does not set it
        statuses = [public.post("/get-in-touch", data={}).status_code for _ in range(6)]
    assert statuses == [422] * 5 + [429]


def _nothing_listens_on(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def redis_down_app(app, tmp_path):
    """An app whose rate-limit storage is a Redis that is not there."""
    assert _nothing_listens_on(1)
    broken = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'redis-down.sqlite'}",
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:1",
        PUBLIC_FORM_MIN_SECONDS=0,
        PUBLIC_FORM_RATE_LIMIT="3 per minute",
    )
    with broken.app_context():
        db.create_all()
        seed_demo("demo password for tests")
    try:
        yield broken
    finally:
        with broken.app_context():
            db.session.remove()
            db.engine.dispose()
        # The limiter is one object for every app: give the session's app its memory storage back.
        limiter.init_app(app)
        limiter._storage_dead = False


def test_the_form_keeps_working_when_redis_is_down(redis_down_app):
    client = redis_down_app.test_client()
    with redis_down_app.app_context():
        assert client.get("/get-in-touch").status_code == 200
        response = client.post("/get-in-touch", data=valid_form(client))
        assert response.status_code == 302, text_of(response)[:2000]
        assert client.get("/get-in-touch/thank-you").status_code == 200
        reference = confirmation_in_session(client)["reference"]
        inquiry = db.session.scalar(select(Inquiry).where(Inquiry.reference == reference))
        assert inquiry is not None
        assert inquiry.status is not InquiryStatus.SPAM
        assert limiter._storage_dead  # the limiter did try Redis, and fell back to memory
        # The in-memory fallback still counts: the limit holds while Redis is away.
        statuses = [client.post("/get-in-touch", data={}).status_code for _ in range(4)]
    assert 429 in statuses



def test_a_rate_limited_send_shows_the_form_again_with_the_text_kept(app, public):
    with app_config(app, PUBLIC_FORM_RATE_LIMIT="1 per minute"):
        public.post("/get-in-touch", data={})
        response = public.post("/get-in-touch", data=valid_form(public, message="Keep my words, please."))
    assert response.status_code == 429
    html = text_of(response)
    assert "Too many attempts" in html
    assert "Keep my words, please.</textarea>" in html
    assert count(Inquiry) == 0
