"""The family closes the loop: the follow-up job, its yes and no links, the opt-out link and
the /status page, through the app as a family meets them."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select

from crm.database import utcnow
from crm.extensions import db
from crm.family import links, services
from crm.family.rules import Answer
from crm.inquiries.retention import anonymise
from crm.mail.opt_out import email_hash, opt_out_token
from crm.mail.worker import send_due
from crm.models import (
    EmailKind,
    EmailStatus,
    FamilyOptOut,
    Inquiry,
    InquiryEvent,
    InquiryEventKind,
    InquiryOutcome,
    OutboundEmail,
    Role,
    Topic,
)
from crm.models.inquiry_status import InquiryStatus
from tests.factories import InquiryFactory, UserFactory
from tests.fixtures_world import reload

SECRET = "Our baby was born early and we need help with the hospital bills"


@pytest.fixture
def manager(app):
    return UserFactory(role=Role.MANAGER, name="Maya Manager", email="maya@foundation.example.org")


def closed(days_ago: float, **fields) -> Inquiry:
    """A web inquiry to North Families (Nora), answered and closed `days_ago`."""
    fields.setdefault("topic", db.session.scalar(select(Topic).where(Topic.name_en == "Home visits")))
    inquiry = InquiryFactory(now=utcnow() - timedelta(days=days_ago + 1), message=SECRET + str(utcnow()), **fields)
    inquiry.status = InquiryStatus.CLOSED
    inquiry.outcome = InquiryOutcome.CONNECTED
    inquiry.first_response_at = utcnow() - timedelta(days=days_ago + 0.5)
    inquiry.closed_at = utcnow() - timedelta(days=days_ago)
    db.session.commit()
    return inquiry


def follow_ups() -> list[OutboundEmail]:
    return list(
        db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == EmailKind.FAMILY_FOLLOW_UP).order_by(OutboundEmail.id))
    )


def link(body: str, path: str) -> str:
    found = re.search(r"http://[^\s]+" + re.escape(path) + r"[^\s]*", body)
    assert found, f"no {path} link in {body!r}"
    return found.group(0).removeprefix("http://127.0.0.1:5000")


def events(inquiry: Inquiry, kind: InquiryEventKind) -> list[InquiryEvent]:
    return list(db.session.scalars(select(InquiryEvent).where(InquiryEvent.inquiry_id == inquiry.id, InquiryEvent.kind == kind)))


# --- the job -------------------------------------------------------------------------------


def test_a_follow_up_goes_once_five_days_after_the_close(app, world) -> None:
    due = closed(6)
    recent = closed(2)
    assert services.send_follow_ups(utcnow()) == 1
    assert services.send_follow_ups(utcnow()) == 0  # a second run (or runner) sends nothing new
    [email] = follow_ups()
    assert email.inquiry_id == due.id
    assert email.to_address == due.email
    assert reload(due).follow_up_sent_at is not None
    assert reload(recent).follow_up_sent_at is None
    assert "/follow-up/yes?token=" in email.body_text
    assert "/follow-up/no?token=" in email.body_text
    assert "/opt-out?token=" in email.body_text
    assert SECRET not in email.body_text
    assert SECRET not in email.subject


def test_the_days_follow_the_setting(app, world, monkeypatch) -> None:
    closed(3)
    monkeypatch.setitem(app.config, "FOLLOW_UP_DAYS", 2)
    assert services.send_follow_ups(utcnow()) == 1


def test_the_follow_up_is_in_the_familys_language(app, world) -> None:
    closed(6, language="es")
    assert services.send_follow_ups(utcnow()) == 1
    [email] = follow_ups()
    assert email.subject.startswith("¿Recibió la ayuda que necesitaba?")
    assert "No, todavía necesito ayuda:" in email.body_text
    assert "lang=es" in link(email.body_text, "/follow-up/no")


def test_none_for_spam_purged_opted_out_or_long_closed_inquiries(app, world) -> None:
    spam = InquiryFactory(now=utcnow() - timedelta(days=7), spam_reason="honeypot")
    spam.closed_at = utcnow() - timedelta(days=6)
    purged = closed(6, email="purged@example.net")
    anonymise(purged, utcnow(), 1)
    closed(6, email="Opted.Out@example.net")
    db.session.add(FamilyOptOut(email_hash=email_hash("opted.out@EXAMPLE.net")))
    closed(30)
    db.session.commit()
    assert services.send_follow_ups(utcnow()) == 0
    assert follow_ups() == []


def test_the_job_is_in_the_catalogue() -> None:
    from crm.jobs.catalogue import JOB_NAMES

    assert "family-follow-up" in JOB_NAMES


# --- the answers ---------------------------------------------------------------------------


def _sent(inquiry: Inquiry) -> str:
    services.send_follow_ups(utcnow())
    return next(email.body_text for email in follow_ups() if email.inquiry_id == inquiry.id)


def test_opening_a_link_changes_nothing_until_the_button(client, world) -> None:
    inquiry = closed(6)
    body = _sent(inquiry)
    page = client.get(link(body, "/follow-up/no"))
    assert page.status_code == 200
    assert "No, I still need help" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert SECRET not in page.text
    assert inquiry.reference not in page.text
    assert inquiry.name not in page.text
    assert reload(inquiry).family_answered_at is None
    assert reload(inquiry).status is InquiryStatus.CLOSED


def _press(client, url: str):
    path, _, query = url.partition("?")
    token = re.search(r"token=([^&]+)", query).group(1)
    return client.post(path, data={"token": token})


def test_yes_records_the_confirmation_once(client, world) -> None:
    inquiry = closed(6)
    body = _sent(inquiry)
    answered = _press(client, link(body, "/follow-up/yes"))
    assert answered.status_code == 200
    assert "glad you got the help" in answered.text
    inquiry = reload(inquiry)
    assert inquiry.family_confirmed is True
    assert inquiry.status is InquiryStatus.CLOSED
    assert len(events(inquiry, InquiryEventKind.FAMILY_CONFIRMED)) == 1
    # Each link works once: the other one too.
    again = _press(client, link(body, "/follow-up/no"))
    assert "We already have your answer" in again.text
    assert reload(inquiry).family_confirmed is True
    assert reload(inquiry).status is InquiryStatus.CLOSED


def test_no_reopens_and_tells_the_assignee_and_the_managers(client, world, manager) -> None:
    inquiry = closed(6)
    body = _sent(inquiry)
    answered = _press(client, link(body, "/follow-up/no"))
    assert answered.status_code == 200
    assert "still need help" in answered.text
    inquiry = reload(inquiry)
    assert inquiry.family_confirmed is False
    assert inquiry.status is InquiryStatus.IN_PROGRESS
    assert inquiry.closed_at is None
    assert len(events(inquiry, InquiryEventKind.FAMILY_NEEDS_HELP)) == 1
    notices = db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == EmailKind.FAMILY_REOPENED)).all()
    assert sorted(notice.to_address for notice in notices) == ["maya@foundation.example.org", "nora@north.example.org"]
    for notice in notices:
        assert inquiry.reference in notice.body_text
        assert f"/inquiries/{inquiry.id}" in notice.body_text
        assert SECRET not in notice.body_text
        assert inquiry.email not in notice.body_text
    assert _press(client, link(body, "/follow-up/no")).status_code == 200
    assert len(events(reload(inquiry), InquiryEventKind.FAMILY_NEEDS_HELP)) == 1


def test_bad_expired_and_purged_links(client, world, app, monkeypatch) -> None:
    inquiry = closed(6)
    body = _sent(inquiry)
    url = link(body, "/follow-up/yes")
    assert client.get("/follow-up/yes?token=nonsense").status_code == 404
    assert client.get("/follow-up/yes").status_code == 400
    assert client.get(url.replace("/yes?", "/maybe?")).status_code == 404
    # A link for another inquiry cannot be made without the key.
    forged = links.answer_token(inquiry.id)[:-2] + "xx"
    assert client.post("/follow-up/yes", data={"token": forged}).status_code == 404
    with monkeypatch.context() as later:
        issued = int(time.time())
        later.setattr(TimestampSigner, "get_timestamp", lambda _self: issued + 31 * 24 * 60 * 60)
        assert client.get(url).status_code == 410
    anonymise(reload(inquiry), utcnow(), 1)
    db.session.commit()
    assert _press(client, url).status_code == 410
    assert reload(inquiry).family_answered_at is None


def test_an_inquiry_never_followed_up_cannot_be_answered(client, world) -> None:
    inquiry = closed(1)
    response = client.post("/follow-up/no", data={"token": links.answer_token(inquiry.id)})
    assert response.status_code == 410
    assert reload(inquiry).status is InquiryStatus.CLOSED


def test_the_answer_pages_speak_spanish(client, world) -> None:
    inquiry = closed(6, language="es")
    body = _sent(inquiry)
    page = client.get(link(body, "/follow-up/no"))
    assert "No, todavía necesito ayuda" in page.text
    assert 'lang="es"' in page.text


# --- opting out ----------------------------------------------------------------------------


def test_the_acknowledgement_carries_an_opt_out_link_that_is_honoured_at_once(client, world) -> None:
    inquiry = closed(6, email="Family@Example.net")
    ack = db.session.scalar(
        select(OutboundEmail).where(OutboundEmail.inquiry_id == inquiry.id, OutboundEmail.kind == EmailKind.REQUESTER_ACK)
    )
    url = link(ack.body_text, "/opt-out")
    page = client.get(url)
    assert page.status_code == 200
    assert "Send me no more messages" in page.text
    assert db.session.scalar(select(FamilyOptOut.id)) is None  # a look is not a choice
    done = _press(client, url)
    assert done.status_code == 200
    assert _press(client, url).status_code == 200  # twice is fine
    assert db.session.scalars(select(FamilyOptOut.email_hash)).all() == [email_hash("family@example.net")]
    assert services.send_follow_ups(utcnow()) == 0


def test_a_follow_up_already_queued_is_not_sent_once_the_family_opts_out(
    app, world, smtp_server, mail_config
) -> None:
    """The job leaves out a listed address when it queues; a follow-up already in the outbox
    (here: retrying while the server is down) is checked again when the runner claims it."""
    transport = mail_config(smtp_server.port)
    inquiry = closed(6, email="family@example.net")
    assert services.send_follow_ups(utcnow()) == 1
    [email] = follow_ups()
    smtp_server.stop()
    assert send_due(utcnow(), transport).failed >= 1  # waits to be retried

    services.opt_out(email_hash(inquiry.email))  # the family clicks the acknowledgement's link
    smtp_server.start()
    report = send_due(utcnow() + timedelta(hours=2), transport)

    sent_ids = [message["Message-ID"] for message in smtp_server.messages]
    assert f"<{email.message_id.strip('<>')}>" not in sent_ids
    assert report.dead == 1
    db.session.expire_all()
    stored = db.session.get(OutboundEmail, email.id)
    assert (stored.status, stored.last_error, stored.locked_until) == (
        EmailStatus.DEAD,
        "Not sent: the family opted out",
        None,
    )
    [stopped] = [event for event in events(inquiry, InquiryEventKind.EMAIL_FAILED) if event.data.get("opted_out")]
    assert stopped.data["email_id"] == email.id
    assert stopped.detail == "Follow-up not sent to the requester (family@example.net): the family opted out"
    # The acknowledgement of their own request is not what opting out stops: it went.
    ack = db.session.scalar(
        select(OutboundEmail).where(OutboundEmail.inquiry_id == inquiry.id, OutboundEmail.kind == EmailKind.REQUESTER_ACK)
    )
    assert ack.status is EmailStatus.SENT


def test_a_forged_opt_out_link_is_refused(client, world) -> None:
    assert client.get("/opt-out?token=" + opt_out_token("a@example.net")[:-3] + "abc").status_code == 404
    assert client.post("/opt-out", data={"token": "x" * 500}).status_code == 404
    assert db.session.scalar(select(FamilyOptOut.id)) is None


# --- /status -------------------------------------------------------------------------------


def _status(client, reference: str, email: str, **headers):
    return client.post("/status", data={"reference": reference, "email": email}, headers=headers)


def test_status_answers_for_the_right_email(client, world) -> None:
    inquiry = closed(6, email="family@example.net")
    page = _status(client, inquiry.reference.lower().replace("-", " "), "FAMILY@example.net")
    assert page.status_code == 200
    assert "With a partner: North Families" in page.text
    assert "Answered" in page.text
    assert "Closed" in page.text
    assert SECRET not in page.text
    assert inquiry.name not in page.text


@pytest.mark.parametrize("around", ["{}.", "({})", "“{}”", "#{}", "{}),"])
def test_status_finds_a_reference_pasted_with_the_punctuation_around_it(client, world, around) -> None:
    # Copied from the acknowledgement's sentence ("... is IM-7K3P9Q.") or subject ("(reference IM-7K3P9Q)").
    inquiry = closed(6, email="family@example.net")
    page = _status(client, around.format(inquiry.reference), "family@example.net")
    assert "With a partner: North Families" in page.text


def test_status_says_the_same_for_a_wrong_email_and_no_such_request(client, world) -> None:
    inquiry = closed(6, email="family@example.net")
    wrong = _status(client, inquiry.reference, "someone.else@example.net")
    missing = _status(client, "IM-ZZZZZZ", "someone.else@example.net")
    assert wrong.status_code == missing.status_code == 200
    assert "No request found" in wrong.text
    assert "North Families" not in wrong.text

    def answer(page) -> str:
        return page.text.replace(inquiry.reference, "REF").replace("IM-ZZZZZZ", "REF")

    assert answer(wrong) == answer(missing)


def test_status_of_a_purged_request_is_no_request(client, world) -> None:
    inquiry = closed(6, email="family@example.net")
    anonymise(inquiry, utcnow(), 1)
    db.session.commit()
    assert "No request found" in _status(client, inquiry.reference, "family@example.net").text


def test_status_form_refuses_bad_input_with_a_message(client, world) -> None:
    page = _status(client, "", "not an address")
    assert page.status_code == 422
    assert "Enter your reference number." in page.text
    assert _status(client, "x" * 50, "family@example.net").status_code == 422


def test_status_in_spanish(client, world) -> None:
    inquiry = closed(6, email="family@example.net", language="es")
    page = client.post("/status?lang=es", data={"reference": inquiry.reference, "email": "family@example.net"})
    assert "Con una organización: North Families" in page.text
    assert "Cerrada" in page.text


def test_status_is_rate_limited(client, world, app, monkeypatch) -> None:
    from crm.extensions import limiter

    monkeypatch.setitem(app.config, "STATUS_RATE_LIMIT", "2 per minute")
    limiter.reset()
    codes = [_status(client, "IM-ZZZZZZ", "a@example.net", **{"X-Forwarded-For": "x"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limiter.reset()


def test_the_thank_you_page_links_to_status(client, world) -> None:
    with client.session_transaction() as session:
        session["public_confirmation"] = {"reference": "IM-ABCDEF", "organisation": "North Families"}
    assert 'href="/status"' in client.get("/get-in-touch/thank-you").text


def test_answer_enum_has_the_links_values() -> None:
    assert [answer.value for answer in Answer] == ["yes", "no"]
