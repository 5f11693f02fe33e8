"""Draining the outbox fast and exactly once: one SMTP connection for a whole drain, batches
of claims, two runners at once, and an SMTP server that drops or stops midway. Against a real
SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import smtplib
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.utils import make_msgid
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, insert, select, text

from config import TestConfig
from crm import create_app
from crm.database import utcnow
from crm.extensions import db
from crm.mail import worker
from crm.mail.smtp import SMTPTransport
from crm.mail.worker import BATCH_SIZE, SendReport, drain_outbox, send_all_due
from crm.models import EmailKind, EmailStatus, Inquiry, InquiryEvent, InquiryEventKind, OutboundEmail
from tests.fixtures_database import database_of_its_own
from tests.smtp_server import SMTPTestServer

pytest_plugins = ["tests.smtp_server"]


def queue(
    count: int,
    *,
    inquiry_id: int | None = None,
    kind: EmailKind = EmailKind.CONTACT_NOTICE,
    body_text: str = "Hello,\n\nThere is a new inquiry for you.\n",
) -> list[str]:
    """Queue `count` due emails in one statement; their Message-IDs."""
    due = utcnow() - timedelta(seconds=1)
    rows = [
        {
            "message_id": make_msgid(idstring=f"drain{number}", domain="backbone-crm.test"),
            "kind": kind,
            "to_address": f"person{number}@example.org",
            "subject": f"New inquiry BB-DRAIN-{number} for you",
            "body_text": body_text,
            "language": "en",
            "status": EmailStatus.PENDING,
            "attempts": 0,
            "last_error": "",
            "created_at": due,
            "next_attempt_at": due,
            "inquiry_id": inquiry_id,
        }
        for number in range(count)
    ]
    db.session.execute(insert(OutboundEmail), rows)
    db.session.commit()
    return [row["message_id"] for row in rows]


def received_ids(server: SMTPTestServer) -> Counter[str]:
    return Counter(str(message["Message-ID"]).strip() for message in server.messages)


def statuses() -> Counter[EmailStatus]:
    db.session.expire_all()
    return Counter(db.session.scalars(select(OutboundEmail.status)))


def sent_ids() -> set[str]:
    return set(db.session.scalars(select(OutboundEmail.message_id).where(OutboundEmail.status == EmailStatus.SENT)))


class Dropping:
    """The drain's transport, with a hook run before the n-th send on the connection (1-based)."""

    def __init__(self, transport: SMTPTransport, before_send: dict[int, object]) -> None:
        self.transport = transport
        self.before_send = before_send
        self.sends = 0
        self.connections = 0

    @contextmanager
    def connect(self) -> Iterator[object]:
        self.connections += 1
        with self.transport.connect() as connection:
            outer = self

            class Hooked:
                def send(self, outgoing):
                    outer.sends += 1
                    hook = outer.before_send.get(outer.sends)
                    if hook is not None:
                        hook(connection)
                    connection.send(outgoing)

            yield Hooked()


# --- one connection, batches of claims ------------------------------------------------------


@contextmanager
def outbox_statements() -> Iterator[list[str]]:
    """The SQL statements that read or write the outbox, as they run."""
    statements: list[str] = []

    def on_execute(_connection, _cursor, statement, *_args) -> None:
        if "outbound_emails" in statement:
            statements.append(statement)

    engine = db.engine
    sqlalchemy_event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", on_execute)


def test_a_drain_opens_one_smtp_connection_and_claims_in_batches(app, smtp_server, mail_config, monkeypatch):
    mail_config(smtp_server.port)
    emails = 2 * BATCH_SIZE + 30
    message_ids = queue(emails)
    opened = []
    real_smtp = smtplib.SMTP

    def counting_smtp(*args, **kwargs):
        opened.append(args)
        return real_smtp(*args, **kwargs)

    monkeypatch.setattr(smtplib, "SMTP", counting_smtp)

    with outbox_statements() as statements:
        assert drain_outbox() == emails

    assert len(opened) == 1
    assert received_ids(smtp_server) == Counter(message_ids)
    assert statuses() == Counter({EmailStatus.SENT: emails})
    # One UPDATE per message sent, and a claim (a SELECT and an UPDATE) per batch of
    # BATCH_SIZE, the last finding nothing: never a query per message to find or reload it.
    batches = -(-emails // BATCH_SIZE)
    assert len(statements) == emails + 2 * batches + 1


def test_a_sent_message_about_an_inquiry_is_on_its_timeline_once(app, smtp_server, mail_config):
    mail_config(smtp_server.port)
    inquiry = Inquiry(reference="BB-DRAIN-1", name="Rae Requester", email="rae@example.org", message="Call me.")
    db.session.add(inquiry)
    db.session.commit()
    queue(3, inquiry_id=inquiry.id)

    assert drain_outbox() == 3

    events = db.session.scalars(
        select(InquiryEvent).where(
            InquiryEvent.inquiry_id == inquiry.id, InquiryEvent.kind == InquiryEventKind.EMAIL_SENT
        )
    ).all()
    assert len(events) == 3
    assert {event.data["to"] for event in events} == {f"person{number}@example.org" for number in range(3)}
    assert all(event.detail.startswith("New-inquiry notice emailed to the assignee") for event in events)


# --- the SMTP server drops or stops midway ---------------------------------------------------


def test_a_connection_dropped_mid_batch_fails_one_message_and_the_drain_goes_on(app, smtp_server, mail_config):
    transport = mail_config(smtp_server.port)
    message_ids = queue(40)

    def drop(connection):
        connection._smtp.sock.shutdown(2)  # the server's side went away between two messages

    dropping = Dropping(transport, {11: drop})
    report = send_all_due(dropping)

    # The 11th message found the connection gone: recorded as failed, to be retried after its
    # backoff. The 12th opened a new connection and the rest went on.
    assert report == SendReport(sent=39, failed=1)
    assert dropping.connections == 1
    assert received_ids(smtp_server) == Counter(sent_ids())
    [failed] = db.session.scalars(select(OutboundEmail).where(OutboundEmail.status == EmailStatus.PENDING)).all()
    assert failed.attempts == 1

    with pytest.MonkeyPatch.context() as later:
        later.setattr(worker, "utcnow", lambda: utcnow() + timedelta(hours=2))
        assert send_all_due(transport) == SendReport(sent=1)

    assert received_ids(smtp_server) == Counter(message_ids)  # each once, the failed one too
    assert statuses() == Counter({EmailStatus.SENT: 40})


def test_a_server_stopped_midway_sends_nothing_twice_and_the_rest_when_it_is_back(app, smtp_server, mail_config):
    transport = mail_config(smtp_server.port)
    message_ids = queue(BATCH_SIZE + 20)

    stopped = Dropping(transport, {30: lambda _connection: smtp_server.stop()})
    report = send_all_due(stopped)

    # 29 sent; the 30th broke on the dead connection and the 31st could not open a new one,
    # so the rest of that batch failed untried and the drain stopped: later batches wait,
    # their attempts untouched.
    assert report.sent == 29
    assert report.failed == BATCH_SIZE - 29
    assert report.connection_failed
    assert received_ids(smtp_server) == Counter(sent_ids())
    assert statuses() == Counter({EmailStatus.SENT: 29, EmailStatus.PENDING: BATCH_SIZE + 20 - 29})
    untried = db.session.scalar(
        select(func.count())
        .select_from(OutboundEmail)
        .where(OutboundEmail.attempts == 0, OutboundEmail.status == EmailStatus.PENDING)
    )
    assert untried == 20

    smtp_server.start()
    with pytest.MonkeyPatch.context() as later:
        later.setattr(worker, "utcnow", lambda: utcnow() + timedelta(hours=2))
        assert send_all_due(transport) == SendReport(sent=BATCH_SIZE + 20 - 29)

    assert received_ids(smtp_server) == Counter(message_ids)
    assert statuses() == Counter({EmailStatus.SENT: BATCH_SIZE + 20})


# --- two runners at once ---------------------------------------------------------------------


@pytest.fixture
def own_database_app(database_url: str, tmp_path: Path, smtp_server) -> Iterator[Flask]:
    """An app whose commits really happen, so that two runners in threads race for real."""
    with database_of_its_own(database_url, tmp_path, "drain") as (url, options):
        app = create_app(
            TestConfig,
            SQLALCHEMY_DATABASE_URI=url,
            SQLALCHEMY_ENGINE_OPTIONS=options,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=smtp_server.port,
            MAIL_DEFAULT_SENDER="Backbone CRM <crm@backbone-crm.test>",
            MAIL_TIMEOUT=5,
        )
        with app.app_context():
            db.create_all()
            db.session.remove()
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_two_runners_draining_one_outbox_send_each_email_once(own_database_app, smtp_server):
    emails = 3 * BATCH_SIZE + 50
    with own_database_app.app_context():
        message_ids = queue(emails)
        db.session.remove()
    start = threading.Barrier(2)
    counts: dict[str, int] = {}
    errors: list[BaseException] = []

    def runner(name: str) -> None:
        with own_database_app.app_context():
            try:
                start.wait()
                counts[name] = drain_outbox()
            except BaseException as error:  # reported below, with the thread's name
                errors.append(error)
            finally:
                db.session.remove()

    # Small batches, so that the runners' claims interleave many times.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(worker, "BATCH_SIZE", 10)
        threads = [threading.Thread(target=runner, args=(name,), name=name) for name in ("first", "second")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    assert errors == []
    assert sum(counts.values()) == emails
    assert all(counts.values()), counts  # both took part
    assert received_ids(smtp_server) == Counter(message_ids)
    with own_database_app.app_context():
        assert statuses() == Counter({EmailStatus.SENT: emails})
        db.session.remove()


# --- building a message without parsing its headers -----------------------------------------


@pytest.mark.parametrize(
    "subject",
    ["New inquiry BB-1 for you", "Recibimos su mensaje (referencia BB-1) — ñ", "Overdue " + "x" * 200],
    ids=["ascii", "spanish", "long"],
)
def test_a_built_message_reads_back_as_stored_and_folds_long_lines(subject):
    from email import message_from_bytes, policy

    from crm.mail.smtp import Outgoing, build_message

    outgoing = Outgoing(
        id=1,
        message_id="abc.123@backbone-crm.test",
        kind="contact_notice",
        to_address="dana@partner.example.org",
        subject=subject,
        body_text="Hola,\n",
        language="es",
        created_at=utcnow(),
        reply_to="IMRI Team <imri@foundation.example.org>",
    )

    raw = build_message(outgoing, "Backbone CRM <crm@backbone-crm.test>").as_bytes(policy=policy.SMTP)

    assert raw.isascii() or b"Content-Transfer-Encoding: 8bit" in raw
    assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n"))
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == subject
    assert parsed["To"] == "dana@partner.example.org"
    assert parsed["Reply-To"] == "IMRI Team <imri@foundation.example.org>"
    assert parsed["Message-ID"] == "<abc.123@backbone-crm.test>"


@pytest.mark.parametrize("field", ["to_address", "reply_to", "message_id"])
def test_a_line_break_in_any_header_is_refused(field):
    from crm.mail.smtp import Outgoing, build_message

    values = {
        "id": 1,
        "message_id": "abc@backbone-crm.test",
        "kind": "contact_notice",
        "to_address": "dana@partner.example.org",
        "subject": "Hello",
        "body_text": "Hi\n",
        "language": "en",
        "created_at": utcnow(),
        "reply_to": "imri@foundation.example.org",
    }
    values[field] = values[field] + "\r\nBcc: everyone@example.org"

    with pytest.raises(ValueError, match="line break"):
        build_message(Outgoing(**values), "Backbone CRM <crm@backbone-crm.test>")


# --- senders side by side, one database connection each --------------------------------------


@contextmanager
def drain_database_traffic(engine) -> Iterator[tuple[list[str], list[object]]]:
    """Every statement run, and every connection taken from the pool, while the block runs."""
    statements: list[str] = []
    checkouts: list[object] = []

    def on_execute(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement)

    def on_checkout(dbapi_connection, *_args) -> None:
        checkouts.append(dbapi_connection)

    sqlalchemy_event.listen(engine, "before_cursor_execute", on_execute)
    sqlalchemy_event.listen(engine, "checkout", on_checkout)
    try:
        yield statements, checkouts
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", on_execute)
        sqlalchemy_event.remove(engine, "checkout", on_checkout)


def test_a_drain_holds_one_database_connection_and_acknowledges_in_one_statement(own_database_app, smtp_server):
    own_database_app.config["MAIL_SENDERS"] = 1
    emails = 2 * BATCH_SIZE + 30
    with own_database_app.app_context():
        queue(emails)
        db.session.remove()
        with drain_database_traffic(db.engine) as (statements, checkouts):
            assert drain_outbox() == emails
        # A claim is at most four statements (the claim's commit waits for the disk on
        # PostgreSQL, SQLite's BEGIN IMMEDIATE, the SELECT, the UPDATE), the last finding
        # nothing; the drain sets and resets its connection's commit mode. Everything else is one
        # statement per email sent: on PostgreSQL in autocommit, on SQLite (no round trips, in
        # process) inside the BEGIN IMMEDIATE that takes the write lock.
        per_email = 2 if db.engine.dialect.name == "sqlite" else 1
        batches = -(-emails // BATCH_SIZE) + 1
        assert len(statements) <= per_email * emails + 4 * batches + 2
        assert len(checkouts) == 1  # no checkout from the pool (and no liveness ping) per email
        assert statuses() == Counter({EmailStatus.SENT: emails})
        if db.engine.dialect.name == "postgresql":
            # The connection goes back to the pool as it came: commits wait for the disk.
            assert db.session.scalar(text("SHOW synchronous_commit")) == "on"
        db.session.remove()
    assert len(smtp_server.messages) == emails


def test_a_drain_hides_sign_in_tokens_in_the_acknowledgement_itself(own_database_app, smtp_server):
    """An invitation or reset link sent is kept with its token hidden, written by the one
    statement that marks it SENT (on PostgreSQL the drain's autocommit acknowledgement), so the
    drain keeps its pace; other kinds' bodies are untouched."""
    own_database_app.config["MAIL_SENDERS"] = 1
    body = "Hello,\n\nYour link: https://crm.test/reset?token=Zk3-qT9_live\n"
    with own_database_app.app_context():
        links = queue(BATCH_SIZE // 2, kind=EmailKind.PASSWORD_RESET, body_text=body)
        notices = queue(BATCH_SIZE // 2, body_text=body)
        db.session.remove()
        with drain_database_traffic(db.engine) as (statements, _checkouts):
            assert drain_outbox() == BATCH_SIZE
        acknowledgements = [statement for statement in statements if statement.lstrip().upper().startswith("UPDATE")]
        # One claim UPDATE for the batch, then one UPDATE per email sent: no extra statement.
        assert len(acknowledgements) == BATCH_SIZE + 1
        db.session.expire_all()
        stored = dict(db.session.execute(select(OutboundEmail.message_id, OutboundEmail.body_text)).all())
        db.session.remove()
    assert {stored[message_id] for message_id in links} == {body.replace("Zk3-qT9_live", "(hidden)")}
    assert {stored[message_id] for message_id in notices} == {body}
    assert {message.get_content().replace("\r\n", "\n") for message in smtp_server.messages} == {body}


def test_senders_side_by_side_send_each_email_once_with_its_timeline_line(own_database_app, smtp_server, monkeypatch):
    own_database_app.config["MAIL_SENDERS"] = 3
    monkeypatch.setattr(worker, "BATCH_SIZE", 10)
    opened = []
    real_smtp = smtplib.SMTP

    def counting_smtp(*args, **kwargs):
        opened.append(args)
        return real_smtp(*args, **kwargs)

    monkeypatch.setattr(smtplib, "SMTP", counting_smtp)
    with own_database_app.app_context():
        inquiry = Inquiry(reference="BB-DRAIN-2", name="Rae Requester", email="rae@example.org", message="Call me.")
        db.session.add(inquiry)
        db.session.commit()
        message_ids = queue(120, inquiry_id=inquiry.id) + queue(80)

        assert drain_outbox() == 200

        # One SMTP connection per sender; SQLite (one writer at a time) drains with one.
        assert len(opened) == (3 if db.engine.dialect.name == "postgresql" else 1)
        assert received_ids(smtp_server) == Counter(message_ids)
        assert statuses() == Counter({EmailStatus.SENT: 200})
        events = db.session.scalars(select(InquiryEvent).where(InquiryEvent.kind == InquiryEventKind.EMAIL_SENT)).all()
        assert Counter(event.data["message_id"] for event in events) == Counter(message_ids[:120])
        assert {event.inquiry_id for event in events} == {inquiry.id}
        assert all(event.detail.startswith("New-inquiry notice emailed to") for event in events)
        db.session.remove()


def test_a_database_connection_lost_mid_drain_is_opened_again_and_nothing_is_sent_twice(own_database_app, smtp_server):
    with own_database_app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("kills a PostgreSQL backend")
        own_database_app.config["MAIL_SENDERS"] = 1
        message_ids = queue(60)
        db.session.remove()
        drain_pids: list[int] = []
        engine = db.engine  # for the SMTP server's thread, which has no app context

        def remember_pid(dbapi_connection, *_args) -> None:
            drain_pids.append(dbapi_connection.info.backend_pid)

        def kill_drain_connection(_message) -> None:
            if len(smtp_server.messages) == 20:
                with engine.connect() as killer:
                    killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": drain_pids[0]})

        smtp_server.on_message = kill_drain_connection
        sqlalchemy_event.listen(db.engine, "checkout", remember_pid)
        try:
            report = send_all_due(SMTPTransport.from_config(own_database_app.config))
        finally:
            sqlalchemy_event.remove(db.engine, "checkout", remember_pid)
            smtp_server.on_message = None

        # The 20th acknowledgement found its connection gone and was written on a new one.
        assert report == SendReport(sent=60)
        assert received_ids(smtp_server) == Counter(message_ids)
        assert statuses() == Counter({EmailStatus.SENT: 60})
        db.session.remove()


@pytest.mark.parametrize(
    ("url", "options", "wanted", "allowed"),
    [
        ("postgresql+psycopg://crm@127.0.0.1/crm", {"pool_size": 1, "max_overflow": 1}, 4, 2),
        ("postgresql+psycopg://crm@127.0.0.1/crm", {"pool_size": 5, "max_overflow": 10}, 4, 4),
        ("postgresql+psycopg://crm@127.0.0.1/crm", {"pool_size": 1, "max_overflow": -1}, 8, 8),
        ("postgresql+psycopg://crm@127.0.0.1/crm", {"pool_size": 1, "max_overflow": 0}, 4, 1),
        ("sqlite:///outbox.sqlite", {}, 4, 1),
    ],
    ids=["runner-pool", "default-pool", "no-limit", "one-connection", "sqlite"],
)
def test_senders_are_as_many_as_the_pool_has_connections_for(url, options, wanted, allowed):
    from sqlalchemy import create_engine

    engine = create_engine(url, **options)  # connects to nothing until used
    try:
        assert worker._senders_the_pool_allows(engine, wanted) == allowed
    finally:
        engine.dispose()
