"""Spam defences: honeypot, render time, rate limit (also with Redis down) and duplicates."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import TimestampSigner
from limits.storage import MemoryStorage, RedisStorage
from sqlalchemy import func, select

from config import TestConfig
from crm import create_app
from crm.demo import seed_demo
from crm.extensions import db, limiter
from crm.inquiries.held_posts import file_held_posts
from crm.models import HeldPost, Inquiry, OutboundEmail
from crm.models.inquiry_status import InquiryStatus
from crm.public import spam
from crm.public.spam import Timing, judge_timing
from tests.public_support import (
    TOKEN_RE,
    app_config,
    confirmation_in_session,
    inquiry_by_reference,
    public_site,
    text_of,
    valid_form,
)
from tests.redis_support import REDIS_URL, redis_or_skip


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
    # Held as it came, one insert, no routing; the job runner files it.
    assert count(Inquiry) == 0
    assert db.session.scalar(select(HeldPost.spam_reason).where(HeldPost.reference == reference))
    assert file_held_posts() == (1, 0)
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
    assert file_held_posts() == (1, 0)
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


def test_a_form_corrected_and_sent_back_at_once_counts_from_when_it_was_first_shown(app, public, monkeypatch):
    # Shown ten seconds ago, sent without the consent box ticked: the form comes back with the
    # error, the family ticks the box and sends it again within a second. That is no bot.
    signed_at = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: signed_at(self) - 10)
    with app.test_request_context():
        first_shown = spam.issue_form_token()
    monkeypatch.undo()
    with app_config(app, PUBLIC_FORM_MIN_SECONDS=3):
        refused = public.post("/get-in-touch", data=valid_form(public, rendered=first_shown, consent=None))
        assert refused.status_code == 422
        shown_again = TOKEN_RE.search(text_of(refused)).group(1)
        response = public.post("/get-in-touch", data=valid_form(public, rendered=shown_again))
    shown_page(public, response)
    reference = confirmation_in_session(public)["reference"]
    assert count(HeldPost) == 0
    inquiry = inquiry_by_reference(reference)
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
    with app_config(app, PUBLIC_FORM_RATE_LIMIT="2 per minute", PUBLIC_FORM_REFUSED_RATE_LIMIT="2 per minute"):
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
    with app_config(app, PUBLIC_FORM_REFUSED_RATE_LIMIT="1 per minute"):
        public.post("/get-in-touch", data={})
        response = public.post("/get-in-touch", data={})
    assert response.status_code == 429
    assert "Too many attempts" in text_of(response)


@pytest.fixture
def default_limits(app):
    """The limits routes.py falls back on when the configuration sets none."""
    with app_config(app, PUBLIC_FORM_RATE_LIMIT="unused", PUBLIC_FORM_REFUSED_RATE_LIMIT="unused"):
        del app.config["PUBLIC_FORM_RATE_LIMIT"]
        del app.config["PUBLIC_FORM_REFUSED_RATE_LIMIT"]
        yield


def test_the_default_limit_is_five_sends_a_minute(public, default_limits):
    statuses = [public.post("/get-in-touch", data=valid_form(public)).status_code for _ in range(6)]
    assert statuses == [302] * 5 + [429]


def test_the_default_limit_for_refused_sends_is_thirty_a_minute(public, default_limits):
    statuses = [public.post("/get-in-touch", data={}).status_code for _ in range(31)]
    assert statuses == [422] * 30 + [429]


def _from(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


@pytest.fixture
def limited(app, public):
    """The public form under the limits config.py ships with."""
    with app_config(
        app,
        PUBLIC_FORM_RATE_LIMIT="5 per minute; 30 per hour",
        PUBLIC_FORM_REFUSED_RATE_LIMIT="30 per minute; 300 per hour",
    ):
        yield public


def test_refused_sends_do_not_use_up_the_limit_for_sends(limited):
    """A family on a clinic's shared wifi fixing a mistyped ZIP code six times still gets through."""
    for _ in range(6):
        refused = limited.post("/get-in-touch", data=valid_form(limited, zip_code="6385"), **_from("198.51.100.7"))
        assert refused.status_code == 422

    response = limited.post("/get-in-touch", data=valid_form(limited), **_from("198.51.100.7"))

    assert response.status_code == 302, text_of(response)[:2000]
    assert count(Inquiry) == 1


def test_the_sixth_send_in_a_minute_is_refused_with_the_text_kept(limited):
    for number in range(5):
        sent = limited.post("/get-in-touch", data=valid_form(limited, message=f"Question {number}."), **_from("198.51.100.7"))
        assert sent.status_code == 302

    response = limited.post(
        "/get-in-touch", data=valid_form(limited, message="Keep my words, please."), **_from("198.51.100.7")
    )

    assert response.status_code == 429
    html = text_of(response)
    assert "Too many attempts" in html
    assert "Keep my words, please.</textarea>" in html
    assert count(Inquiry) == 5
    # The limit is per client address: another one still gets through.
    other = limited.post(
        "/get-in-touch",
        data=valid_form(limited, email="another.family@example.org", message="Another family."),
        **_from("203.0.113.20"),
    )
    assert other.status_code == 302


def test_many_refused_sends_meet_the_loose_limit(limited):
    statuses = [
        limited.post("/get-in-touch", data=valid_form(limited, zip_code="6385"), **_from("198.51.100.7")).status_code
        for _ in range(31)
    ]

    assert statuses == [422] * 30 + [429]
    # Refused sends from one address leave another's alone.
    assert limited.post("/get-in-touch", data=valid_form(limited), **_from("203.0.113.20")).status_code == 302


def _nothing_listens_on(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def forget_the_dead_storage(app) -> None:
    """Give the session's app its memory storage back. The limiter is one object for every app,
    and Flask-Limiter has no public way to forget that a storage was found dead (it only finds
    out itself, on a back-off timer), so this one flag is set here, in one place."""
    limiter.init_app(app)
    limiter._storage_dead = False


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
        PUBLIC_FORM_REFUSED_RATE_LIMIT="3 per minute",
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
        forget_the_dead_storage(app)


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
        # The limiter did try Redis, and fell back to memory.
        assert isinstance(limiter.storage, RedisStorage)
        assert isinstance(limiter.limiter.storage, MemoryStorage)
        # The in-memory fallback still counts: the limit holds while Redis is away.
        statuses = [client.post("/get-in-touch", data={}).status_code for _ in range(4)]
    assert 429 in statuses





@pytest.fixture
def redis_app(app, tmp_path):
    """An app whose rate-limit storage is Redis, under a key prefix of its own."""
    connection = redis_or_skip()
    prefix = f"test-{uuid.uuid4().hex}"
    shared = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'redis.sqlite'}",
        RATELIMIT_STORAGE_URI=REDIS_URL,
        RATELIMIT_KEY_PREFIX=prefix,
        PUBLIC_FORM_MIN_SECONDS=0,
    )
    with shared.app_context():
        db.create_all()
        seed_demo("demo password for tests")
    try:
        yield shared, lambda: {key.decode(): int(connection.get(key)) for key in connection.scan_iter(f"*{prefix}*")}
    finally:
        for key in connection.scan_iter(f"*{prefix}*"):
            connection.delete(key)
        connection.close()
        with shared.app_context():
            db.session.remove()
            db.engine.dispose()
        forget_the_dead_storage(app)


def test_both_counts_are_kept_per_address_in_the_configured_storage(redis_app):
    shared, counters = redis_app
    client = shared.test_client()
    with shared.app_context():
        for _ in range(2):
            refused = client.post("/get-in-touch", data=valid_form(client, zip_code="6385"), **_from("198.51.100.7"))
            assert refused.status_code == 422
        assert client.post("/get-in-touch", data=valid_form(client), **_from("198.51.100.7")).status_code == 302

    kept = counters()
    refused_counts = {value for key, value in kept.items() if "public-form-refused:198.51.100.7" in key}
    sent_counts = {value for key, value in kept.items() if "public-form-sent:198.51.100.7" in key}
    assert refused_counts == {2}, kept  # per minute and per hour
    assert sent_counts == {1}, kept
    # ...and the sent one per email address too, hashed (crm.public.admission.identity_key).
    identity_counts = {value for key, value in kept.items() if "public-form-identity:" in key}
    assert identity_counts == {1}, kept
    assert not any("jamie" in key for key in kept), kept
    assert len(kept) == 6, kept


def test_a_rate_limited_send_shows_the_form_again_with_the_text_kept(app, public):
    with app_config(app, PUBLIC_FORM_RATE_LIMIT="1 per minute"):
        assert public.post("/get-in-touch", data=valid_form(public)).status_code == 302
        response = public.post("/get-in-touch", data=valid_form(public, message="Keep my words, please."))
    assert response.status_code == 429
    html = text_of(response)
    assert "Too many attempts" in html
    assert "Keep my words, please.</textarea>" in html
    assert count(Inquiry) == 1
