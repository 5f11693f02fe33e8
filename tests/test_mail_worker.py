"""The outbox worker against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import ast
import random
import smtplib
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import make_msgid, parsedate_to_datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from config import TestConfig
from crm import create_app
from crm.database import utcnow
from crm.extensions import db
from crm.mail import worker
from crm.mail.outbox import new_message_id, reply_to_problem
from crm.mail.smtp import Outgoing, SMTPTransport, build_message, describe_error
from crm.mail.worker import (
    LEASE,
    SendReport,
    _record_sent,
    backoff_ceiling,
    backoff_delay,
    claim_due,
    send_all_due,
    send_due,
    send_mail_job,
)
from crm.models import EmailKind, EmailStatus, Inquiry, InquiryEvent, InquiryEventKind, OutboundEmail
from tests.public_support import confirmation_in_session, inquiry_by_reference, public_site, valid_form

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SENDER = "Backbone CRM <crm@backbone-crm.test>"  # what the mail_config fixture sets


class Highest:
    """An RNG whose uniform(a, b) is always b: the longest backoff, so times are exact."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return b


class Lowest:
    def uniform(self, a: float, b: float) -> float:
        return a


@pytest.fixture
def transport(smtp_server, mail_config) -> SMTPTransport:
    return mail_config(smtp_server.port)


def make_inquiry(reference: str = "BB-TEST-1") -> Inquiry:
    inquiry = Inquiry(reference=reference, name="Rae Requester", email="rae@example.org", message="Please call me.")
    db.session.add(inquiry)
    db.session.commit()
    return inquiry


def make_email(**fields) -> OutboundEmail:
    values = {
        "message_id": make_msgid(domain="backbone-crm.test"),
        "kind": "contact_notice",
        "to_address": "dana@partner.example.org",
        "subject": "New inquiry BB-TEST-1 for you",
        "body_text": "Hello Dana,\n\nThere is a new inquiry for you.\n",
        "language": "en",
        "created_at": NOW - timedelta(minutes=5),
        "next_attempt_at": NOW - timedelta(minutes=5),
        **fields,
    }
    email = OutboundEmail(**values)
    db.session.add(email)
    db.session.commit()
    return email


def app_log_text(caplog: pytest.LogCaptureFixture) -> str:
    """What the app logged, tracebacks included (the test SMTP server's own log left out)."""
    return "\n".join(caplog.handler.format(record) for record in caplog.records if record.name.startswith("crm"))


def reload(email: OutboundEmail) -> OutboundEmail:
    db.session.expire_all()
    return db.session.get(OutboundEmail, email.id)


def events_of(inquiry: Inquiry, kind: InquiryEventKind) -> list[InquiryEvent]:
    return list(
        db.session.scalars(
            select(InquiryEvent)
            .where(InquiryEvent.inquiry_id == inquiry.id, InquiryEvent.kind == kind)
            .order_by(InquiryEvent.id)
        )
    )


# --- backoff -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "ceiling_seconds"),
    [
        (0, 30),  # never below the base, even for a nonsense count
        (1, 30),
        (2, 60),
        (3, 120),
        (4, 240),
        (5, 480),
        (6, 960),
        (7, 1920),
        (8, 3600),  # 3840 would pass the cap
        (9, 3600),
        (40, 3600),
        (10_000, 3600),
    ],
)
def test_backoff_ceiling_doubles_from_30_seconds_up_to_an_hour(attempts, ceiling_seconds):
    assert backoff_ceiling(attempts) == timedelta(seconds=ceiling_seconds)


@pytest.mark.parametrize("attempts", [1, 2, 5, 8, 20])
def test_backoff_delay_is_full_jitter_between_zero_and_the_ceiling(attempts):
    ceiling = backoff_ceiling(attempts)
    highest = Highest()
    assert backoff_delay(attempts, highest) == ceiling
    assert highest.calls == [(0, ceiling.total_seconds())]
    assert backoff_delay(attempts, Lowest()) == timedelta(0)

    rng = random.Random(attempts)  # noqa: S311 (jitter, not security)
    samples = [backoff_delay(attempts, rng) for _ in range(500)]
    assert all(timedelta(0) <= sample <= ceiling for sample in samples)
    assert min(samples) < ceiling * 0.1
    assert max(samples) > ceiling * 0.9


# --- the message and its errors ---------------------------------------------------------------


def test_build_message_uses_the_stored_headers():
    outgoing = Outgoing(
        id=1,
        message_id="abc.123@backbone-crm.test",
        kind="requester_ack",
        to_address="rae@example.org",
        subject="Merci — reçu",
        body_text="Bonjour,\n",
        language="fr",
        created_at=NOW,
    )

    message = build_message(outgoing, SENDER)

    assert message["Message-ID"] == "<abc.123@backbone-crm.test>"
    assert message["Date"] == "Mon, 02 Mar 2026 15:00:00 +0000"
    assert message["Content-Language"] == "fr"
    assert message["Subject"] == "Merci — reçu"
    assert message.get_content() == "Bonjour,\n"


@pytest.mark.parametrize(
    ("error", "described"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "ConnectionRefusedError: Connection refused"),
        (TimeoutError("timed out"), "TimeoutError: timed out"),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "SMTPServerDisconnected: Connection unexpectedly closed"),
        (smtplib.SMTPDataError(554, b"5.7.1 Rejected\r\n as spam"), "SMTPDataError: 554 5.7.1 Rejected as spam"),
        (smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"5.1.1 No such user")}), "recipient refused: 550 5.1.1 No such user"),
        (RuntimeError("x" * 1000), "RuntimeError: " + "x" * 285 + "…"),
    ],
)
def test_errors_are_described_in_one_short_line(error, described):
    assert describe_error(error) == described
    assert len(describe_error(error)) <= 300


# --- delivery ------------------------------------------------------------------------------


def test_message_ids_are_unique_whatever_the_random_module_was_seeded_with(app):
    """Hypothesis seeds `random` alike for each example, and a post takes less than the
    hundredth of a second make_msgid's time stamp counts in: two ids drawn that way must
    still differ (outbound_emails.message_id is unique)."""
    ids = set()
    for _ in range(20):
        random.seed(20261203)
        ids.add(new_message_id(EmailKind.CONTACT_NOTICE))
    assert len(ids) == 20


def test_a_queued_message_is_delivered_as_stored(app, smtp_server, transport):
    inquiry = make_inquiry()
    email = make_email(
        inquiry_id=inquiry.id,
        kind="requester_ack",
        to_address="rae@example.org",
        subject="Recibimos su mensaje (referencia BB-TEST-1) — ¡gracias!",
        body_text="Hola Rae,\n\nGracias por escribirnos. Le contestaremos pronto.\n",
        language="es",
    )

    report = send_due(NOW, transport)

    assert report == SendReport(sent=1)
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "rae@example.org"
    assert message["From"] == SENDER
    assert message["Subject"] == email.subject
    assert message["Message-ID"] == email.message_id
    assert message["Content-Language"] == "es"
    assert parsedate_to_datetime(message["Date"]) == email.created_at
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().replace("\r\n", "\n") == email.body_text
    assert smtp_server.envelopes == [("crm@backbone-crm.test", ["rae@example.org"])]

    stored = reload(email)
    assert stored.status is EmailStatus.SENT
    assert stored.sent_at == NOW
    assert stored.locked_until is None
    assert stored.attempts == 0
    [event] = events_of(inquiry, InquiryEventKind.EMAIL_SENT)
    assert event.detail == "Acknowledgement emailed to the requester (rae@example.org)"
    assert event.data["kind"] == "requester_ack"
    assert event.data["to"] == "rae@example.org"
    assert event.occurred_at == NOW


SIGN_IN_BODY = "Hello Sam,\n\nSet your password here:\nhttps://crm.test/invitation?token=Zk3-qT9_live&lang=en\n\nThanks\n"
HIDDEN_BODY = SIGN_IN_BODY.replace("Zk3-qT9_live", "(hidden)")


@pytest.mark.parametrize("kind", [EmailKind.INVITATION, EmailKind.PASSWORD_RESET])
def test_a_sent_sign_in_link_reaches_the_server_whole_and_is_not_kept_in_the_outbox(app, smtp_server, transport, kind):
    """A backup or dump of the outbox must hold no working sign-in link: once the email is
    sent, the row keeps the link with its token hidden; other emails are kept as written."""
    email = make_email(kind=kind, to_address="sam@foundation.example.org", body_text=SIGN_IN_BODY)
    # Another kind keeps its body, token-like text and all.
    notice = make_email(body_text=SIGN_IN_BODY)

    assert send_due(NOW, transport) == SendReport(sent=2)

    bodies = {message["Message-ID"]: message.get_content().replace("\r\n", "\n") for message in smtp_server.messages}
    assert bodies == {email.message_id: SIGN_IN_BODY, notice.message_id: SIGN_IN_BODY}
    stored = reload(email)
    assert stored.status is EmailStatus.SENT
    assert stored.body_text == HIDDEN_BODY
    assert "Zk3-qT9_live" not in stored.body_text
    assert reload(notice).body_text == SIGN_IN_BODY


@pytest.mark.parametrize("kind", [EmailKind.INVITATION, EmailKind.PASSWORD_RESET])
def test_a_dead_sign_in_link_is_not_kept_in_the_outbox(app, smtp_server, transport, monkeypatch, kind):
    monkeypatch.setitem(app.config, "MAIL_MAX_ATTEMPTS", 2)
    refused = make_email(kind=kind, to_address="gone@foundation.example.org", body_text=SIGN_IN_BODY)
    notice = make_email(to_address="gone@foundation.example.org", body_text=SIGN_IN_BODY)
    smtp_server.reject["gone@foundation.example.org"] = "550 5.1.1 No such user here"
    assert send_due(NOW, transport) == SendReport(dead=2)  # permanently rejected

    retried = make_email(kind=kind, to_address="sam@foundation.example.org", body_text=SIGN_IN_BODY)
    smtp_server.stop()
    assert send_due(NOW, transport) == SendReport(failed=1)
    # A failure that will be retried keeps the link: the next attempt must carry it.
    assert (reload(retried).status, reload(retried).body_text) == (EmailStatus.PENDING, SIGN_IN_BODY)
    assert send_due(NOW + timedelta(hours=2), transport) == SendReport(dead=1)  # gave up

    for email in (refused, retried):
        stored = reload(email)
        assert stored.status is EmailStatus.DEAD
        assert stored.body_text == HIDDEN_BODY
    assert (reload(notice).status, reload(notice).body_text) == (EmailStatus.DEAD, SIGN_IN_BODY)


def test_only_due_messages_are_sent(app, smtp_server, transport):
    due = make_email()
    later = make_email(next_attempt_at=NOW + timedelta(minutes=1))
    sent = make_email(status=EmailStatus.SENT)
    dead = make_email(status=EmailStatus.DEAD)
    held = make_email(status=EmailStatus.HELD)

    assert send_due(NOW, transport).sent == 1

    assert [message["Message-ID"] for message in smtp_server.messages] == [due.message_id]
    assert reload(later).status is EmailStatus.PENDING
    assert [reload(email).status for email in (sent, dead, held)] == [EmailStatus.SENT, EmailStatus.DEAD, EmailStatus.HELD]


def test_many_messages_go_in_batches_each_once(app, smtp_server, transport):
    emails = [make_email(to_address=f"person{n}@example.org") for n in range(23)]

    report = send_due(NOW, transport, batch_size=5)

    assert report.sent == 23
    assert sorted(message["Message-ID"] for message in smtp_server.messages) == sorted(e.message_id for e in emails)
    assert send_due(NOW, transport) == SendReport()


def test_with_the_server_down_nothing_is_lost_and_it_is_delivered_once_when_back(app, smtp_server, transport):
    inquiry = make_inquiry()
    email = make_email(inquiry_id=inquiry.id)
    smtp_server.stop()

    report = send_due(NOW, transport, rng=Highest())

    assert report == SendReport(failed=1)
    stored = reload(email)
    assert stored.status is EmailStatus.PENDING
    assert stored.attempts == 1
    assert stored.next_attempt_at == NOW + timedelta(seconds=30)
    assert stored.next_attempt_at > NOW
    assert stored.locked_until is None
    assert "cannot connect to 127.0.0.1" in stored.last_error
    [failed] = events_of(inquiry, InquiryEventKind.EMAIL_FAILED)
    assert "dana@partner.example.org" in failed.detail
    assert "attempt 1 of 8; will retry" in failed.detail
    assert failed.data["attempts"] == 1

    assert send_due(NOW + timedelta(seconds=10), transport) == SendReport()  # not due yet

    smtp_server.start()
    assert send_due(NOW + timedelta(seconds=31), transport) == SendReport(sent=1)
    assert send_due(NOW + timedelta(hours=2), transport) == SendReport()

    assert [message["Message-ID"] for message in smtp_server.messages] == [email.message_id]
    assert reload(email).status is EmailStatus.SENT
    assert len(events_of(inquiry, InquiryEventKind.EMAIL_SENT)) == 1


def test_a_connection_failure_fails_the_whole_batch_without_trying_each(app, smtp_server, transport, monkeypatch):
    emails = [make_email(to_address=f"person{n}@example.org") for n in range(3)]
    smtp_server.stop()
    opened = []
    real_smtp = smtplib.SMTP

    def counting_smtp(*args, **kwargs):
        opened.append(args)
        return real_smtp(*args, **kwargs)

    monkeypatch.setattr(smtplib, "SMTP", counting_smtp)

    assert send_due(NOW, transport) == SendReport(failed=3)
    assert len(opened) == 1
    assert {reload(email).attempts for email in emails} == {1}


def test_a_follow_up_to_a_family_who_opted_out_is_dead_not_sent(app, smtp_server, transport):
    """The follow-up job checks the opt-out list when it queues; the runner checks it again,
    as a family may opt out while their follow-up waits in the outbox. The list is read once
    per batch, and not at all for a batch without a follow-up."""
    from crm.family.services import opt_out
    from crm.mail.opt_out import email_hash
    from tests.query_plans import statements_run

    opt_out(email_hash("Opted.Out@example.org"))
    stopped = [
        make_email(kind=EmailKind.FAMILY_FOLLOW_UP, to_address=f"{name}@example.org") for name in ("opted.out", "OPTED.OUT")
    ]
    other_family = make_email(kind=EmailKind.FAMILY_FOLLOW_UP, to_address="other@example.org")
    # Opting out does not stop the acknowledgement of a family's own request, nor staff mail.
    acknowledgement = make_email(kind=EmailKind.REQUESTER_ACK, to_address="opted.out@example.org")
    notice = make_email()

    with statements_run() as ran:
        report = send_due(NOW, transport, batch_size=2)

    assert (report.sent, report.dead) == (3, 2)
    sent = {message["Message-ID"] for message in smtp_server.messages}
    assert sent == {other_family.message_id, acknowledgement.message_id, notice.message_id}
    for email in stopped:
        stored = reload(email)
        assert (stored.status, stored.last_error, stored.locked_until) == (
            EmailStatus.DEAD,
            "Not sent: the family opted out",
            None,
        )
        assert stored.attempts == 0
    opt_out_reads = [statement for statement, _ in ran if "family_opt_outs" in statement]
    assert len(opt_out_reads) == 2  # batches of two: [follow-up, follow-up], [follow-up, ack], [notice]
    assert send_due(NOW + timedelta(hours=1), transport) == SendReport()


def test_retries_keep_the_message_id_and_date(app, smtp_server, transport):
    email = make_email()
    smtp_server.data_reply = "451 4.3.0 Try again later"

    assert send_due(NOW, transport, rng=Highest()) == SendReport(failed=1)
    assert send_due(NOW + timedelta(minutes=1), transport, rng=Highest()) == SendReport(failed=1)
    assert reload(email).attempts == 2
    assert "451" in reload(email).last_error

    smtp_server.data_reply = None
    assert send_due(NOW + timedelta(hours=1), transport) == SendReport(sent=1)

    attempts = [*smtp_server.refused, *smtp_server.messages]
    assert len(attempts) == 3
    assert {message["Message-ID"] for message in attempts} == {email.message_id}
    assert len({message["Date"] for message in attempts}) == 1


def test_after_max_attempts_the_message_is_dead(app, smtp_server, transport, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_MAX_ATTEMPTS", 3)
    inquiry = make_inquiry()
    email = make_email(inquiry_id=inquiry.id)
    smtp_server.stop()

    reports = [send_due(NOW + timedelta(hours=hour), transport) for hour in range(4)]

    assert reports == [SendReport(failed=1), SendReport(failed=1), SendReport(dead=1), SendReport()]
    stored = reload(email)
    assert stored.status is EmailStatus.DEAD
    assert stored.attempts == 3
    failures = events_of(inquiry, InquiryEventKind.EMAIL_FAILED)
    assert [event.data["dead"] for event in failures] == [False, False, True]
    assert "gave up after 3 attempts" in failures[-1].detail

    smtp_server.start()
    assert send_due(NOW + timedelta(days=1), transport) == SendReport()
    assert smtp_server.messages == []


def test_max_attempts_defaults_to_eight(app, smtp_server, transport, monkeypatch):
    monkeypatch.delitem(app.config, "MAIL_MAX_ATTEMPTS", raising=False)
    email = make_email()
    smtp_server.stop()

    for hour in range(7):
        assert send_due(NOW + timedelta(hours=hour), transport) == SendReport(failed=1)
    assert send_due(NOW + timedelta(hours=7), transport) == SendReport(dead=1)
    assert reload(email).attempts == 8


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ("550 5.1.1 No such user here", EmailStatus.DEAD),
        ("553 5.1.3 Bad recipient address syntax", EmailStatus.DEAD),
        ("552 5.2.2 Mailbox full", EmailStatus.PENDING),  # RFC 5321: treat as the temporary 452
        ("450 4.2.1 Mailbox busy", EmailStatus.PENDING),
    ],
)
def test_a_permanent_recipient_rejection_is_dead_at_once(app, smtp_server, transport, reply, status):
    email = make_email()
    smtp_server.reject["dana@partner.example.org"] = reply

    send_due(NOW, transport)

    stored = reload(email)
    assert stored.status is status
    assert stored.attempts == 1
    assert reply[:3] in stored.last_error


def test_a_reply_that_quotes_the_recipient_is_logged_without_the_address(app, smtp_server, transport, caplog):
    """Mail servers often name the refused recipient: for an acknowledgement that is a
    family's address, which must not reach the log. The outbox keeps the reply whole."""
    caplog.set_level("DEBUG")
    email = make_email(kind="requester_ack", to_address="Quillon.Vexmarsh@example.org")
    smtp_server.reject["quillon.vexmarsh@example.org"] = (
        "550 5.1.1 <Quillon.Vexmarsh@example.org>: Recipient address rejected: User unknown"
    )

    send_due(NOW, transport)

    logged = app_log_text(caplog)
    assert "Recipient address rejected" in logged
    assert "vexmarsh" not in logged.lower()
    assert "Quillon.Vexmarsh@example.org" in reload(email).last_error


def test_an_unexpected_error_is_logged_without_its_message(app, smtp_server, transport, monkeypatch, caplog):
    from crm.mail import smtp

    def quoting(_connection, outgoing):
        raise RuntimeError(f"could not encode the message to {outgoing.to_address}")

    monkeypatch.setattr(smtp.SMTPConnection, "send", quoting)
    caplog.set_level("DEBUG")
    make_email(to_address="quillon.vexmarsh@example.org")

    send_due(NOW, transport)

    logged = app_log_text(caplog)
    assert "Unexpected error sending email" in logged
    assert "RuntimeError" in logged
    assert "in quoting" in logged  # where it happened is kept
    assert "vexmarsh" not in logged.lower()


def test_a_permanent_data_rejection_is_dead_at_once(app, smtp_server, transport):
    email = make_email()
    smtp_server.data_reply = "554 5.7.1 Message rejected as spam"

    assert send_due(NOW, transport) == SendReport(dead=1)
    assert "554" in reload(email).last_error


def test_a_relay_refusing_every_recipient_for_want_of_our_login_does_not_kill_the_queue(
    app, smtp_server, transport, caplog
):
    """A relay that wants a login refuses every recipient (Postfix: "554 5.7.1 Relay access
    denied") when MAIL_USERNAME is not set: a fault of our settings, like a refused login. The
    run stops after a few such refusals, which are retried, and the rest is not tried."""
    caplog.set_level("DEBUG")
    emails = [make_email(to_address=f"person{n}@example.org") for n in range(5)]
    for email in emails:
        smtp_server.reject[email.to_address] = f"554 5.7.1 <{email.to_address}>: Relay access denied"

    report = send_due(NOW, transport)

    assert report == SendReport(failed=3, released=2)
    assert report.connection_failed
    assert {reload(email).status for email in emails} == {EmailStatus.PENDING}
    assert [reload(email).attempts for email in emails] == [1, 1, 1, 0, 0]
    logged = app_log_text(caplog)
    assert "554 5.7.1" in logged
    assert "person" not in logged

    smtp_server.reject.clear()  # MAIL_USERNAME set
    assert send_due(NOW + timedelta(hours=2), transport).sent == 5
    assert {reload(email).status for email in emails} == {EmailStatus.SENT}


REFUSALS = ["550 5.1.1 No such user here", "554 5.7.1 Relay access denied"]


@pytest.mark.parametrize("reply", REFUSALS, ids=["no-such-user", "relay-denied"])
@pytest.mark.parametrize(
    "refused",
    [{0}, {1}, {3}, {1, 2}, {0, 1, 3}],
    ids=["first", "middle", "last", "two-in-a-row", "two-then-one"],
)
def test_a_refused_recipient_among_accepted_ones_is_still_dead_at_once(app, smtp_server, transport, refused, reply):
    emails = [make_email(to_address=f"person{n}@example.org") for n in range(4)]
    for position in refused:
        smtp_server.reject[emails[position].to_address] = reply

    assert send_due(NOW, transport) == SendReport(sent=4 - len(refused), dead=len(refused))
    assert [reload(email).status for email in emails] == [
        EmailStatus.DEAD if position in refused else EmailStatus.SENT for position in range(4)
    ]


@pytest.mark.parametrize("reply", REFUSALS, ids=["no-such-user", "relay-denied"])
def test_the_same_refused_address_again_and_again_is_dead_not_a_fault_of_ours(app, smtp_server, transport, reply):
    emails = [make_email(to_address="gone@example.org") for _ in range(4)]
    smtp_server.reject["gone@example.org"] = reply

    assert send_due(NOW, transport) == SendReport(dead=4)
    assert {reload(email).status for email in emails} == {EmailStatus.DEAD}


def test_mailboxes_that_do_not_exist_in_a_row_are_dead_at_once(app, smtp_server, transport):
    """Only a refusal on security or policy grounds (5.7.x) can be a fault of ours: several
    addresses with no mailbox in a row are each dead, and the run goes on."""
    emails = [make_email(to_address=f"gone{n}@example.org") for n in range(4)]
    for email in emails[:3]:
        smtp_server.reject[email.to_address] = "550 5.1.1 No such user here"

    assert send_due(NOW, transport) == SendReport(sent=1, dead=3)
    assert [reload(email).status for email in emails] == [EmailStatus.DEAD] * 3 + [EmailStatus.SENT]


def test_a_message_that_cannot_be_built_is_dead_and_the_rest_still_go(app, smtp_server, transport):
    broken = make_email(subject="Hello\r\nBcc: everyone@example.org")
    fine = make_email()

    assert send_due(NOW, transport) == SendReport(sent=1, dead=1)
    assert "cannot be built" in reload(broken).last_error
    assert [message["Message-ID"] for message in smtp_server.messages] == [fine.message_id]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_login_when_a_username_is_set_and_the_password_never_reaches_the_error(app, make_smtp_server, mail_config):
    server = make_smtp_server(credentials=("crm", "s3cret-pass"))
    email = make_email()

    wrong = mail_config(server.port, MAIL_USERNAME="crm", MAIL_PASSWORD="wrong-pass")
    assert send_due(NOW, wrong) == SendReport(failed=1)
    assert "wrong-pass" not in reload(email).last_error
    assert "535" in reload(email).last_error

    right = mail_config(server.port, MAIL_USERNAME="crm", MAIL_PASSWORD="s3cret-pass")
    assert "s3cret-pass" not in repr(right)
    assert send_due(NOW + timedelta(hours=1), right) == SendReport(sent=1)
    assert server.logins == ["crm"]
    assert [message["Message-ID"] for message in server.messages] == [email.message_id]


def test_a_locked_database_while_recording_is_retried_not_a_duplicate(app, smtp_server, transport, monkeypatch):
    email = make_email()
    calls = []

    def locked_once(outgoing, now, session=None):
        calls.append(outgoing.id)
        if len(calls) == 1:
            raise OperationalError("UPDATE outbound_emails ...", {}, Exception("database is locked"))
        _record_sent(outgoing, now, session)

    monkeypatch.setattr(worker, "_record_sent", locked_once)
    monkeypatch.setattr(worker, "RECORD_RETRY_PAUSE", 0)

    assert send_due(NOW, transport) == SendReport(sent=1)
    assert calls == [email.id, email.id]
    assert reload(email).status is EmailStatus.SENT
    assert len(smtp_server.messages) == 1


# --- one delivery, however many workers ------------------------------------------------------


def test_a_claimed_message_is_not_claimed_by_a_second_worker(app, smtp_server, transport):
    email = make_email()

    claimed_by_first = claim_due(NOW, 10)
    assert [outgoing.id for outgoing in claimed_by_first] == [email.id]
    assert reload(email).locked_until == NOW + LEASE

    assert claim_due(NOW, 10) == []
    assert send_due(NOW + timedelta(minutes=1), transport) == SendReport()
    assert smtp_server.messages == []


def test_two_workers_running_at_once_send_a_message_once(app, smtp_server, transport):
    emails = [make_email(to_address=f"person{n}@example.org") for n in range(3)]
    second_worker_reports: list[SendReport] = []

    class SecondWorkerRunsMidSend:
        """The first worker's transport: before each send, a second worker runs in full."""

        def __init__(self, connection):
            self.connection = connection

        def send(self, outgoing):
            second_worker_reports.append(send_due(NOW, transport))
            self.connection.send(outgoing)

    class FirstWorkersTransport:
        @contextmanager
        def connect(self):
            with transport.connect() as connection:
                yield SecondWorkerRunsMidSend(connection)

    report = send_due(NOW, FirstWorkersTransport())

    assert report == SendReport(sent=3)
    assert second_worker_reports == [SendReport()] * 3
    assert sorted(message["Message-ID"] for message in smtp_server.messages) == sorted(e.message_id for e in emails)


def test_a_crashed_workers_claim_expires_and_another_worker_sends_it(app, smtp_server, transport):
    email = make_email()
    claim_due(NOW, 10)  # ... and the worker dies before sending

    assert send_due(NOW + LEASE - timedelta(seconds=1), transport) == SendReport()
    assert send_due(NOW + LEASE + timedelta(seconds=1), transport) == SendReport(sent=1)
    assert [message["Message-ID"] for message in smtp_server.messages] == [email.message_id]


def test_a_worker_hands_back_what_it_cannot_send_within_its_lease(app, smtp_server, transport):
    email = make_email()

    report = send_due(NOW, transport, lease=timedelta(0))

    assert report == SendReport(released=1)
    stored = reload(email)
    assert (stored.status, stored.attempts, stored.locked_until) == (EmailStatus.PENDING, 0, None)
    assert smtp_server.messages == []
    assert send_due(NOW, transport) == SendReport(sent=1)


# --- development: held, not sent ----------------------------------------------------------


def test_without_a_mail_server_due_mail_is_held_not_sent(app, smtp_server, transport, monkeypatch, caplog):
    caplog.set_level("INFO", logger="crm.mail.worker")
    due = make_email()
    later = make_email(next_attempt_at=NOW + timedelta(hours=1))
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")

    report = send_due(NOW, transport)

    assert report == SendReport(held=1)
    assert reload(due).status is EmailStatus.HELD
    assert reload(later).status is EmailStatus.PENDING
    assert smtp_server.messages == []
    assert "MAIL_SERVER is not set" in caplog.text
    assert "HELD" in caplog.text
    assert "1 held" in report.summary()
    assert "MAIL_SERVER is not set" in report.summary()


# --- the send-mail job ----------------------------------------------------------------------


def test_send_all_due_keeps_going_until_nothing_is_due(app, smtp_server, transport, monkeypatch):
    monkeypatch.setattr(worker, "MAX_PER_RUN", 3)
    due = worker.utcnow() - timedelta(seconds=1)
    emails = [make_email(to_address=f"person{n}@example.org", next_attempt_at=due) for n in range(7)]

    report = send_all_due(transport)

    assert report == SendReport(sent=7)
    assert sorted(message["Message-ID"] for message in smtp_server.messages) == sorted(e.message_id for e in emails)


def test_send_all_due_stops_starting_runs_once_its_budget_is_spent(app, smtp_server, transport, monkeypatch):
    monkeypatch.setattr(worker, "MAX_PER_RUN", 3)
    due = worker.utcnow() - timedelta(seconds=1)
    for n in range(7):
        make_email(to_address=f"person{n}@example.org", next_attempt_at=due)

    report = send_all_due(transport, budget=timedelta(0))

    assert report == SendReport(sent=3)


def test_the_send_mail_job_sends_what_is_due_and_sums_it_up(app, smtp_server, transport):
    email = make_email(next_attempt_at=worker.utcnow() - timedelta(seconds=1))

    summary = send_mail_job(worker.utcnow())

    assert summary == "Outbox: 1 sent, 0 failed (will retry), 0 dead, 0 held."
    assert [message["Message-ID"] for message in smtp_server.messages] == [email.message_id]


def test_the_send_mail_job_in_development_says_mail_was_held(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    email = make_email(next_attempt_at=worker.utcnow() - timedelta(seconds=1))

    summary = send_mail_job(worker.utcnow())

    assert "1 held" in summary
    assert "MAIL_SERVER is not set" in summary
    assert reload(email).status is EmailStatus.HELD


def test_mail_imports_no_feature_package():
    """Mail sits below the features: the job runner, not mail, schedules their work."""
    mail = Path(worker.__file__).parent
    imported = set()
    for path in mail.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    crm = mail.parent
    features = {f"crm.{package.name}" for package in crm.iterdir() if (package / "routes.py").exists()} | {"crm.jobs"}
    assert {"crm.inquiries", "crm.reports", "crm.jobs"} <= features
    assert not {name for name in imported if any(name == f or name.startswith(f + ".") for f in features)}


# --- where a requester's reply goes ------------------------------------------------------------

REPLY_TO = "Fundación IMRI <imri@foundation.example.org>"
REQUESTER = "jamie.rivera@example.org"  # valid_form's


def send_the_public_form(app, client, **config) -> Inquiry:
    with public_site(app, **config):
        response = client.post("/get-in-touch", data=valid_form(client, email=REQUESTER))
        assert response.status_code == 302
        return inquiry_by_reference(confirmation_in_session(client)["reference"])


def delivered_to(smtp_server, address: str):
    [message] = [message for message in smtp_server.messages if message["To"] == address]
    return message


def test_the_acknowledgement_carries_the_configured_reply_to_and_the_notice_none(app, client, smtp_server, transport):
    inquiry = send_the_public_form(app, client, MAIL_REPLY_TO=REPLY_TO)
    assignee = inquiry.assigned_contact.email

    assert send_due(utcnow(), transport) == SendReport(sent=2)

    acknowledgement = delivered_to(smtp_server, REQUESTER)
    assert acknowledgement["Reply-To"] == REPLY_TO
    assert acknowledgement["From"] == SENDER
    # The partner's notice asks them to sign in; a reply to it would carry an inquiry's
    # details by email, so it has no Reply-To.
    assert delivered_to(smtp_server, assignee)["Reply-To"] is None


def test_without_a_reply_address_the_acknowledgement_has_no_reply_to(app, client, smtp_server, transport):
    send_the_public_form(app, client, MAIL_REPLY_TO="")

    assert send_due(utcnow(), transport) == SendReport(sent=2)

    assert delivered_to(smtp_server, REQUESTER)["Reply-To"] is None
    assert all(message["Reply-To"] is None for message in smtp_server.messages)


def test_a_retried_acknowledgement_keeps_the_reply_to_it_was_queued_with(app, client, smtp_server, transport, monkeypatch):
    send_the_public_form(app, client, MAIL_REPLY_TO=REPLY_TO)
    smtp_server.reject[REQUESTER] = "450 4.2.1 Mailbox busy, try later"
    now = utcnow()
    assert send_due(now, transport, rng=Highest()) == SendReport(sent=1, failed=1)

    monkeypatch.setitem(app.config, "MAIL_REPLY_TO", "someone-else@foundation.example.org")
    smtp_server.reject.clear()
    assert send_due(now + timedelta(hours=1), transport) == SendReport(sent=1)

    assert delivered_to(smtp_server, REQUESTER)["Reply-To"] == REPLY_TO


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", None),
        ("imri@foundation.example.org", None),
        (REPLY_TO, None),
        ("IMRI Team <imri@foundation.example.org>", None),
        ("imri", "is not an ASCII email address"),
        ("Fundación <fundación@example.org>", "is not an ASCII email address"),
        ("a@example.org, b@example.org", "must be one address"),
        ("a@example.org\r\nBcc: b@example.org", "contains a line break"),
        ("Someone <a@example.org>".rjust(301, "x"), "is longer than 300 characters"),
    ],
)
def test_which_reply_addresses_can_be_used(value, problem):
    assert reply_to_problem(value) == problem


def test_the_app_refuses_to_start_with_an_unusable_reply_address():
    with pytest.raises(RuntimeError, match="MAIL_REPLY_TO is not an ASCII email address"):
        create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://", MAIL_REPLY_TO="the foundation")


def test_a_long_run_sends_no_batch_after_its_claim_has_run_out(app, smtp_server, transport, monkeypatch):
    """Every batch of a run is claimed until the run's `now` + lease, so the run stops at half
    the lease counted from its start, not from each batch's claim: otherwise a long run (a
    backlog on a slow server) keeps sending messages whose claim has run out, which a second
    runner, starting once the first one's lease is over, claims and sends again."""
    emails = [make_email(to_address=f"person{number}@example.org") for number in range(5)]
    lease = timedelta(seconds=2)
    clock = [1000.0]
    monkeypatch.setattr(worker.time, "monotonic", lambda: clock[0])

    class SlowSendsAndASecondRunner:
        def __init__(self, connection):
            self.connection = connection

        def send(self, outgoing):
            elapsed = timedelta(seconds=clock[0] - 1000.0)
            if elapsed > lease:
                send_due(NOW + elapsed, transport, lease=lease)
            self.connection.send(outgoing)
            clock[0] += 0.8  # each message takes 0.8 s

    class FirstRunner:
        @contextmanager
        def connect(self):
            with transport.connect() as connection:
                yield SlowSendsAndASecondRunner(connection)

    send_due(NOW, FirstRunner(), batch_size=1, lease=lease)
    send_due(NOW + timedelta(minutes=1), transport)  # whatever the first run handed back

    ids = [message["Message-ID"] for message in smtp_server.messages]
    assert len(ids) == len(set(ids)), f"sent twice: {sorted(ids)}"
    assert sorted(ids) == sorted(email.message_id for email in emails)
