"""The Get in Touch form under a flood: a shared routing budget beyond which sends are held
(one insert) and filed by the job runner, spam held before any routing work, and a limit per
email address or phone number (crm.public.admission, crm.inquiries.held_posts)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from crm.database import utcnow
from crm.extensions import db, limiter
from crm.inquiries import held_posts
from crm.inquiries.held_posts import file_held_posts
from crm.jobs.catalogue import jobs_named
from crm.jobs.runner import Outcome, run_jobs
from crm.models import AuditEvent, EmailKind, HeldPost, Inquiry, OutboundEmail
from crm.models.inquiry_status import InquiryStatus
from crm.public import admission
from tests.fixtures_world import count
from tests.public_support import (
    app_config,
    confirmation_in_session,
    inquiry_by_reference,
    public_site,
    text_of,
    valid_form,
)
from tests.redis_support import REDIS_URL, redis_or_skip

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def public(app, client):
    with public_site(app, PUBLIC_FORM_ROUTING_BUDGET="2 per hour"):
        yield client


def _send(client, number: int, **overrides):
    data = valid_form(client, email=f"family{number}@example.org", message=f"Question {number} about help near us.", **overrides)
    response = client.post("/get-in-touch", data=data)
    assert response.status_code == 302, text_of(response)[:2000]
    return confirmation_in_session(client)


def _emails_of(inquiry: Inquiry) -> set[EmailKind]:
    return set(db.session.scalars(select(OutboundEmail.kind).where(OutboundEmail.inquiry_id == inquiry.id)))


def test_a_send_beyond_the_budget_is_held_thanked_and_then_filed_by_the_job_runner(public):
    routed = [_send(public, number) for number in range(2)]
    assert all(inquiry_by_reference(sent["reference"]) is not None for sent in routed)

    held = _send(public, 2)
    # Thanked at once with its reference, naming the initiative: nothing is routed yet.
    page = text_of(public.get("/get-in-touch/thank-you"))
    assert held["reference"] in page
    assert "Infant Mortality Reduction Initiative will answer you" in page
    assert inquiry_by_reference(held["reference"]) is None
    assert count(HeldPost) == 1

    runs = run_jobs(jobs_named(["file-held-posts"]), "runner-1", force=True)
    assert [run.outcome for run in runs] == [Outcome.DONE]
    assert runs[0].detail == "1 filed, 0 failed, 0 waiting"
    inquiry = inquiry_by_reference(held["reference"])
    assert inquiry.status is not InquiryStatus.SPAM
    assert inquiry.assigned_contact_id is not None
    assert inquiry.email == "family2@example.org"
    # The family's acknowledgement and the contact's notice, as for a send routed at once.
    assert _emails_of(inquiry) == {EmailKind.REQUESTER_ACK, EmailKind.CONTACT_NOTICE}
    assert count(HeldPost) == 0


def test_held_sends_are_filed_in_order_each_once(app, public):
    with app_config(app, PUBLIC_FORM_ROUTING_BUDGET="1 per hour"):
        _send(public, 0)
        references = [_send(public, number)["reference"] for number in range(1, 5)]
        # The same family pressing send twice: one send, thanked with the first one's
        # reference, as for sends routed at once.
        again = public.post("/get-in-touch", data=valid_form(public, email="family4@example.org", message="Question 4 about help near us."))
        assert again.status_code == 302
        assert confirmation_in_session(public)["reference"] == references[-1]
        spam_reference = _send(public, 5, website="http://cheap-pills.example")["reference"]
    assert count(HeldPost) == 5

    assert file_held_posts(limit=2) == (2, 0)
    assert file_held_posts() == (3, 0)
    assert file_held_posts() == (0, 0)

    filed = [inquiry_by_reference(reference) for reference in references]
    assert [inquiry.id for inquiry in filed] == sorted(inquiry.id for inquiry in filed)
    assert all(inquiry.assigned_contact_id is not None for inquiry in filed)
    assert inquiry_by_reference(spam_reference).status is InquiryStatus.SPAM
    assert count(Inquiry) == 1 + 4 + 1
    assert count(HeldPost) == 0


def test_a_held_send_is_thanked_with_a_reference_no_inquiry_has(public, monkeypatch):
    # The family keeps the reference they were shown: filing must not have to give theirs another.
    earlier = _send(public, 0)["reference"]
    picks = iter([earlier, "IM-HELD22"])
    monkeypatch.setattr("crm.public.services.random_reference", lambda: next(picks))
    held = _send(public, 1, website="http://cheap-pills.example")
    assert held["reference"] == "IM-HELD22"
    assert db.session.scalar(select(HeldPost.reference)) == "IM-HELD22"
    assert db.session.scalar(select(HeldPost.contact_preference)) is not None

    assert file_held_posts() == (1, 0)
    assert inquiry_by_reference(held["reference"]).email == "family1@example.org"
    assert inquiry_by_reference(earlier).email == "family0@example.org"


def test_the_same_words_again_beyond_the_budget_are_thanked_as_the_routed_send(app, public):
    # Not held, to be filed later as a duplicate under a reference that would name nothing.
    first = _send(public, 0)["reference"]
    _send(public, 1)
    again = _send(public, 0)  # the budget of two is spent
    assert again["reference"] == first
    assert count(HeldPost) == 0
    assert count(Inquiry) == 2


def test_the_same_words_routed_while_the_first_send_is_held_are_thanked_as_the_held_send(app, public):
    _send(public, 0)
    _send(public, 1)
    held = _send(public, 2)  # the budget of two is spent: held
    assert count(HeldPost) == 1
    # The family presses send again once the budget has room (here: no budget at all).
    with app_config(app, PUBLIC_FORM_ROUTING_BUDGET=""):
        again = _send(public, 2)
    # The same words from the same sender while the first send is held are that send,
    # as they are when both are held or both routed.
    assert again["reference"] == held["reference"]
    assert count(Inquiry) == 2
    assert count(HeldPost) == 1


def test_a_held_send_filed_after_the_same_words_were_routed_keeps_a_reference_that_names_something(app, public):
    _send(public, 0)
    _send(public, 1)
    held = _send(public, 2)
    with app_config(app, PUBLIC_FORM_ROUTING_BUDGET=""):
        _send(public, 2)
    assert file_held_posts() == (1, 0)
    # The family was shown this reference first; /status and staff must still find it.
    assert inquiry_by_reference(held["reference"]).email == "family2@example.org"
    assert count(Inquiry) == 3


def test_the_same_words_routed_after_a_send_held_as_spam_are_routed_as_a_send_of_their_own(app, public):
    # A send not taken for spam repeats no spam, held or filed: the family is not swallowed.
    spam = _send(public, 0, website="http://cheap-pills.example")
    with app_config(app, PUBLIC_FORM_ROUTING_BUDGET=""):
        again = _send(public, 0)
    assert again["reference"] != spam["reference"]
    inquiry = inquiry_by_reference(again["reference"])
    assert inquiry.status is not InquiryStatus.SPAM
    assert inquiry.assigned_contact_id is not None
    # Filed after it, the held spam repeats nothing that came before it: its reference, shown
    # to whoever sent it, names it as it would had it been filed at once.
    assert file_held_posts() == (1, 0)
    assert inquiry_by_reference(spam["reference"]).status is InquiryStatus.SPAM
    assert inquiry_by_reference(again["reference"]).status is not InquiryStatus.SPAM


def test_a_routed_send_is_not_given_the_reference_of_a_send_still_held(app, public, monkeypatch):
    _send(public, 0)
    _send(public, 1)
    monkeypatch.setattr("crm.public.services.random_reference", lambda: "IM-HELD22")
    held = _send(public, 2)  # the budget of two is spent: held
    assert held["reference"] == "IM-HELD22"
    # Another family's send, routed once the budget has room, draws the same reference.
    picks = iter(["IM-HELD22", "IM-OTHER2"])
    monkeypatch.setattr("crm.public.services.random_reference", lambda: next(picks))
    with app_config(app, PUBLIC_FORM_ROUTING_BUDGET=""):
        routed = _send(public, 3)
    assert routed["reference"] != held["reference"]
    assert inquiry_by_reference(routed["reference"]).email == "family3@example.org"
    assert file_held_posts() == (1, 0)
    assert inquiry_by_reference(held["reference"]).email == "family2@example.org"


def test_a_send_again_after_one_taken_for_spam_is_not_swallowed_with_it(public):
    # A family's first send taken for a bot's (sent too fast, say) is filed as spam and never
    # acknowledged; the same words sent again are theirs, not a duplicate of the spam.
    spam = _send(public, 0, website="http://cheap-pills.example")["reference"]
    assert file_held_posts() == (1, 0)
    again = _send(public, 0)["reference"]
    assert again != spam
    inquiry = inquiry_by_reference(again)
    assert inquiry.status is not InquiryStatus.SPAM
    assert inquiry.assigned_contact_id is not None
    assert inquiry_by_reference(spam).status is InquiryStatus.SPAM


def test_a_send_again_beyond_the_budget_after_one_taken_for_spam_is_held_and_routed(public):
    _send(public, 1)
    _send(public, 2)  # the budget of two is spent
    spam = _send(public, 0, website="http://cheap-pills.example")["reference"]
    again = _send(public, 0)["reference"]
    assert again != spam
    assert count(HeldPost) == 2
    assert file_held_posts() == (2, 0)
    assert inquiry_by_reference(again).assigned_contact_id is not None
    assert inquiry_by_reference(spam).status is InquiryStatus.SPAM


def test_spam_is_held_without_spending_the_budget(public):
    _send(public, 0, website="http://cheap-pills.example")
    _send(public, 1, website="http://cheap-pills.example")
    assert count(HeldPost) == 2
    # The budget of two is untouched: a family's send is still routed at once.
    family = _send(public, 2)
    assert inquiry_by_reference(family["reference"]) is not None


def test_a_held_send_that_cannot_be_filed_stays_held_and_the_others_go_on(public, monkeypatch):
    for number in range(3):
        _send(public, number, website="http://cheap-pills.example")
    take_in = held_posts.take_in

    def failing_for_one(details, *args, **kwargs):
        if details.email == "family1@example.org":
            raise ValueError("cannot file this one")
        return take_in(details, *args, **kwargs)

    monkeypatch.setattr(held_posts, "take_in", failing_for_one)
    assert file_held_posts() == (2, 1)
    assert db.session.scalar(select(HeldPost.email)) == "family1@example.org"
    monkeypatch.setattr(held_posts, "take_in", take_in)
    assert file_held_posts() == (1, 0)
    assert count(Inquiry) == 3


@pytest.mark.parametrize(
    ("language", "received", "not_yet"),
    [("en", "Received", "With a partner"), ("es", "Recibida", "Con una organización")],
)
def test_status_knows_a_held_send_before_it_is_filed(app, public, language, received, not_yet):
    _send(public, 0)
    _send(public, 1)
    held = _send(public, 2, language=language)
    spam = _send(public, 3, website="http://cheap-pills.example")
    assert count(HeldPost) == 2

    def status(reference: str, email: str):
        return public.post(f"/status?lang={language}", data={"reference": reference, "email": email})

    page = status(held["reference"].lower(), "FAMILY2@example.org")
    assert page.status_code == 200
    html = text_of(page)
    # Received and with nobody yet, as a freshly received inquiry not yet passed on.
    assert re.search(rf'class="reached" aria-current="step">\s*{received}', html)
    assert re.search(rf'class="not-reached">\s*{not_yet}', html)
    assert "Question 2" not in html

    def answer(response, reference: str) -> str:
        section = re.search(r'<section class="status-answer".*?</section>', text_of(response), re.DOTALL).group(0)
        return section.replace(reference, "REF")

    # Held spam answers as a held send does: the sender cannot tell.
    assert answer(status(spam["reference"], "family3@example.org"), spam["reference"]) == answer(page, held["reference"])
    # The same checks as for any request: a wrong address learns nothing.
    wrong = status(held["reference"], "someone.else@example.org")
    missing = status("IM-ZZZZZZ", "someone.else@example.org")
    assert answer(wrong, held["reference"]) == answer(missing, "IM-ZZZZZZ")
    assert received not in answer(wrong, held["reference"])


def _failing_for(monkeypatch, email: str, error: Exception) -> None:
    take_in = held_posts.take_in

    def failing(details, *args, **kwargs):
        if details.email == email:
            raise error
        return take_in(details, *args, **kwargs)

    monkeypatch.setattr(held_posts, "take_in", failing)


def test_a_held_send_that_keeps_failing_is_filed_for_routing_by_hand(public, monkeypatch):
    for number in range(2):
        _send(public, number)
    held = _send(public, 2)
    _failing_for(monkeypatch, "family2@example.org", ValueError("routing is broken for this one"))

    for tries in range(1, held_posts.MAX_ATTEMPTS):
        assert file_held_posts() == (0, 1)
        row = db.session.scalar(select(HeldPost))
        assert (row.attempts, row.last_error) == (tries, "ValueError")
        db.session.rollback()
    assert file_held_posts() == (1, 0)

    # Not lost: an inquiry with its words, new and with nobody, for staff to route by hand.
    inquiry = inquiry_by_reference(held["reference"])
    assert inquiry.status is InquiryStatus.NEW
    assert inquiry.assigned_contact_id is None
    assert inquiry.message == "Question 2 about help near us."
    assert "route it by hand" in inquiry.routing_reason
    assert inquiry.due_at is not None
    assert count(HeldPost) == 0


def test_a_lost_connection_is_not_counted_against_a_held_send(public, monkeypatch):
    for number in range(3):
        _send(public, number)
    lost = OperationalError("SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True)
    _failing_for(monkeypatch, "family2@example.org", lost)
    for _ in range(held_posts.MAX_ATTEMPTS + 1):
        assert file_held_posts() == (0, 1)
    assert db.session.scalar(select(HeldPost.attempts)) == 0


def test_a_held_send_that_cannot_be_filed_even_by_hand_stays_held_untried(public, monkeypatch):
    for number in range(3):
        _send(public, number)
    _failing_for(monkeypatch, "family2@example.org", ValueError("broken"))
    monkeypatch.setattr(held_posts, "set_due", lambda _inquiry: (_ for _ in ()).throw(ValueError("no calendar")))
    for _ in range(held_posts.MAX_ATTEMPTS):
        assert file_held_posts() == (0, 1)
    assert db.session.scalar(select(HeldPost.attempts)) == held_posts.MAX_ATTEMPTS
    # No longer tried at each run, kept for an admin to see.
    assert file_held_posts() == (0, 0)
    assert count(HeldPost) == 1


def test_a_budget_that_cannot_be_counted_holds_the_send(public, monkeypatch):
    def storage_down(*_args, **_kwargs):
        raise ConnectionError("storage unreachable")

    monkeypatch.setattr(type(limiter.limiter), "hit", storage_down)
    sent = _send(public, 0)
    assert inquiry_by_reference(sent["reference"]) is None
    assert count(HeldPost) == 1


def test_an_empty_budget_routes_every_send(app, public):
    with app_config(app, PUBLIC_FORM_ROUTING_BUDGET=""):
        sent = [_send(public, number) for number in range(4)]
    assert all(inquiry_by_reference(one["reference"]) is not None for one in sent)
    assert count(HeldPost) == 0


def _from(address: str) -> dict:
    return {"environ_overrides": {"REMOTE_ADDR": address}}


@pytest.mark.parametrize(
    ("language", "title", "advice"),
    [
        ("en", "Too many attempts", "The form was sent several times in a short while."),
        ("es", "Demasiados intentos", "El formulario se envió varias veces en poco tiempo."),
    ],
)
def test_one_email_address_from_many_client_addresses_meets_its_own_limit(app, public, language, title, advice):
    public.get(f"/?lang={language}")
    with app_config(app, PUBLIC_FORM_IDENTITY_RATE_LIMIT="2 per hour", PUBLIC_FORM_ROUTING_BUDGET=""):
        for number in range(2):
            data = valid_form(public, email="same.bot@example.org", message=f"Message {number}.")
            assert public.post("/get-in-touch", data=data, **_from(f"198.51.100.{number + 1}")).status_code == 302
        data = valid_form(public, email="Same.Bot@example.org ", message="Keep my words, please.")
        refused = public.post("/get-in-touch", data=data, **_from("198.51.100.9"))
        # Another email address from that same client address still gets through.
        other = valid_form(public, email="another.family@example.org", message="Another family.")
        assert public.post("/get-in-touch", data=other, **_from("198.51.100.9")).status_code == 302
    assert refused.status_code == 429
    html = text_of(refused)
    assert title in html
    assert advice in html
    assert "Keep my words, please.</textarea>" in html
    assert count(Inquiry) == 3


def test_one_phone_number_without_an_email_meets_the_limit_too(app, public):
    with app_config(app, PUBLIC_FORM_IDENTITY_RATE_LIMIT="1 per hour", PUBLIC_FORM_ROUTING_BUDGET=""):
        statuses = [
            public.post(
                "/get-in-touch",
                data=valid_form(public, email="", phone=phone, contact_preference="phone", message=f"Please call me about help near us ({number})."),
                **_from(f"198.51.100.{number + 1}"),
            ).status_code
            for number, phone in enumerate(["(573) 555-0142", "573.555.0142"])
        ]
    assert statuses == [302, 429]


def test_the_identity_key_is_keyed_with_the_secret_not_a_bare_digest_of_the_address(app):
    # A bare SHA-256 of an email address or phone number in the limiter's storage is undone
    # by hashing a list of guesses; one keyed with the app's secret is not.
    address = "family@example.org"
    keys = []
    for secret in ("first-secret-" + "x" * 40, "second-secret-" + "y" * 40):
        with app_config(app, SECRET_KEY=secret), app.test_request_context("/get-in-touch", method="POST", data={"email": address}):
            keys.append(admission.identity_key())
    bare = hashlib.sha256(address.encode()).hexdigest()[:32]
    assert all(key.startswith("public-form-identity:") for key in keys)
    assert bare not in keys[0]
    assert keys[0] != keys[1]


# --- two processes, one budget ----------------------------------------------------------------

_PROCESS = textwrap.dedent(
    """
    import json, sys
    from config import TestConfig
    from crm import create_app
    from crm.public import admission

    app = create_app(
        TestConfig,
        RATELIMIT_STORAGE_URI=sys.argv[1],
        RATELIMIT_KEY_PREFIX=sys.argv[2],
        PUBLIC_FORM_ROUTING_BUDGET="3 per hour",
    )
    with app.test_request_context("/get-in-touch", method="POST"):
        print(json.dumps([admission.within_routing_budget() for _ in range(int(sys.argv[3]))]))
    """
)


def _budget_in_another_process(prefix: str, sends: int) -> list[bool]:
    done = subprocess.run(  # noqa: S603  (our own interpreter and script)
        [sys.executable, "-c", _PROCESS, REDIS_URL, prefix, str(sends)],
        cwd=ROOT,
        env={**os.environ, "CRM_ENV": "testing", "TEST_DATABASE_URL": "sqlite://"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_processes_draw_on_one_budget_in_redis():
    connection = redis_or_skip()
    prefix = f"test-{uuid.uuid4().hex}"
    try:
        assert _budget_in_another_process(prefix, 2) == [True, True]
        # The second process finds one send left of the three, not a budget of its own.
        assert _budget_in_another_process(prefix, 2) == [True, False]
        keys = [key.decode() for key in connection.scan_iter(f"*{prefix}*")]
        assert len(keys) == 1
        assert admission.BUDGET_KEY in keys[0]
    finally:
        for key in connection.scan_iter(f"*{prefix}*"):
            connection.delete(key)
        connection.close()


# --- the backlog: the runner warns, the health check stays 200 --------------------------------


def _held_for(minutes: int, number: int) -> None:
    db.session.add(
        HeldPost(
            reference=f"IM-WAIT{number:02d}",
            received_at=utcnow() - timedelta(minutes=minutes),
            name="Waiting Family",
            email=f"waiting{number}@example.org",
            message="Please help us, this is private.",
        )
    )
    db.session.commit()


def test_the_runner_warns_of_an_old_backlog_without_what_was_sent(app, client, caplog, monkeypatch):
    monkeypatch.setattr(held_posts, "file_held_posts", lambda: (0, 0))  # a backlog the runner cannot keep up with
    _held_for(2, 1)
    with caplog.at_level(logging.WARNING, logger="crm.inquiries.held_posts"):
        run_jobs(jobs_named(["file-held-posts"]), "runner-1", force=True)
    assert not [record for record in caplog.records if "waiting to be filed" in record.getMessage()]

    _held_for(12, 2)
    with app_config(app, HELD_POSTS_WARN_MINUTES=5), caplog.at_level(logging.WARNING, logger="crm.inquiries.held_posts"):
        [run] = run_jobs(jobs_named(["file-held-posts"]), "runner-1", force=True)
    assert run.detail == "0 filed, 0 failed, 2 waiting"
    [warning] = [record.getMessage() for record in caplog.records if "waiting to be filed" in record.getMessage()]
    assert warning.startswith("Held Get in Touch sends are waiting to be filed: 2, the oldest for 12 minutes")
    for private in ("Waiting Family", "waiting2@example.org", "private", "IM-WAIT02"):
        assert private not in warning
    assert client.get("/healthz").status_code == 200


def test_filing_a_held_send_leaves_no_copy_of_it_in_the_audit_trail(public, monkeypatch):
    # The inquiry's own entries hold what was sent, and the retention purge scrubs those; an
    # entry for the held row would keep a copy out of its reach.
    _send(public, 0)
    _send(public, 1)
    _send(public, 2)
    _send(public, 3, website="http://cheap-pills.example")
    _failing_for(monkeypatch, "family3@example.org", ValueError("broken"))
    for _ in range(held_posts.MAX_ATTEMPTS):
        file_held_posts()
    assert count(HeldPost) == 0
    entries = db.session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "HeldPost")).all()
    assert entries == []
