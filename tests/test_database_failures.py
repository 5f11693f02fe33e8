"""When the database fails: nothing a family wrote reaches a log, a lost connection is tried
again once without storing anything twice, and a database out of reach gets a 503 that keeps
what the visitor wrote.

These tests use an app with a database of its own (conftest's per-test rollback cannot
survive a connection that SQLAlchemy invalidates), and fail the connection the way a killed
backend or a failover does: the driver raises an error that SQLAlchemy takes for a lost
connection, and invalidates the connection.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError

from config import TestConfig
from crm import create_app, reference_cache
from crm.demo import seed_demo
from crm.extensions import db
from crm.models import Inquiry, Organisation, OutboundEmail
from crm.public import spam
from tests.fixtures_database import database_of_its_own
from tests.public_support import GENEROUS_LIMIT, app_config, text_of, valid_form

DEMO_PASSWORD = "outage tests demo password"  # noqa: S105
LOST = "simulated: the connection to the database server was lost"
REFERENCE_RE = re.compile(r'<strong class="reference">([^<]+)</strong>')

# What a family might write, distinctive enough that any trace of it in a log is found.
FAMILY = {
    "name": "Quillon Vexmarsh-Adebayo",
    "email": "quillon.vexmarsh@example.org",
    "phone": "(573) 555-0187",
    "message": "We lost our son Tobiah in March and would like to talk with someone about grief support.",
}
# The forms the values may take in a log: as typed, stored, or as the phone's digits.
FAMILY_TRACES = [*FAMILY.values(), "5735550187", "555-0187", "Tobiah", "Vexmarsh"]


@pytest.fixture(scope="module")
def outage_app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with database_of_its_own(database_url, tmp_path_factory.mktemp("outage"), "outage") as (url, options):
        app = create_app(
            TestConfig,
            SQLALCHEMY_DATABASE_URI=url,
            SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, **options},
            PUBLIC_FORM_MIN_SECONDS=0,
            PUBLIC_FORM_RATE_LIMIT=GENEROUS_LIMIT,
        )
        with app.app_context():
            db.create_all()
            seed_demo(DEMO_PASSWORD)
            db.session.remove()
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module")
def engine(outage_app: Flask) -> Engine:
    with outage_app.app_context():
        return db.engine


@pytest.fixture(autouse=True)
def _cold_reference_cache(outage_app: Flask) -> None:
    """Each test starts with nothing read: what a test reads first is what it expects to lose."""
    with outage_app.app_context():
        reference_cache.forget()


@pytest.fixture
def site(outage_app: Flask) -> FlaskClient:
    """A visitor's browser. No app context is kept open around its requests: each one gets its
    own session and `g`, as on a real server."""
    return outage_app.test_client()


def form_for(app: Flask, client: FlaskClient, **fields: str) -> dict[str, str]:
    """A valid Get in Touch form, fetched the way a browser would, with `fields` filled in."""
    with app.app_context():
        return valid_form(client, **fields)


def stored(engine: Engine, **where: str) -> list[tuple[int, str]]:
    """(id, reference) of the inquiries matching `where`, read on a connection of its own."""
    query = select(Inquiry.id, Inquiry.reference).filter_by(**where).order_by(Inquiry.id)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def queued_kinds(engine: Engine, inquiry_id: int) -> list[str]:
    query = select(OutboundEmail.kind).where(OutboundEmail.inquiry_id == inquiry_id).order_by(OutboundEmail.kind)
    with engine.connect() as connection:
        return list(connection.scalars(query))


def count_inquiries(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Inquiry))


def thank_you_reference(client: FlaskClient) -> str:
    html = text_of(client.get("/get-in-touch/thank-you"))
    match = REFERENCE_RE.search(html)
    assert match, html[:500]
    return match.group(1)


# --- simulated failures --------------------------------------------------------------------------


class LostConnection:
    """Loses the app's database connection on chosen statements, or around a COMMIT.

    The driver's own error class is raised where the driver would raise it, and a handle_error
    listener tells SQLAlchemy it is a disconnect, as it concludes for a killed backend: the
    connection is invalidated and the error carries `connection_invalidated`.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: dict[str, int] = {}  # statement prefix -> how many more to fail ("" fails any)
        self.commits_lost_before = 0  # COMMITs that never reach the server
        self.commits_lost_after = 0  # COMMITs that go through, the answer lost on the way back
        self.everything_after_commit = False  # the connection is gone once a COMMIT went through
        self.lost = 0

    def _lose(self) -> None:
        self.lost += 1
        raise self.engine.dialect.loaded_dbapi.OperationalError(LOST)

    def before_cursor_execute(self, _conn, _cursor, statement, *_args) -> None:
        for prefix, remaining in self.statements.items():
            if remaining and statement.lstrip().upper().startswith(prefix.upper()):
                self.statements[prefix] = remaining - 1
                self._lose()

    def commit(self, real_commit, dbapi_connection) -> None:
        if self.commits_lost_before:
            self.commits_lost_before -= 1
            self._lose()
        real_commit(dbapi_connection)
        if self.everything_after_commit:
            self.statements[""] = 1_000_000
        if self.commits_lost_after:
            self.commits_lost_after -= 1
            self._lose()

    @staticmethod
    def handle_error(context) -> None:
        if LOST in str(context.original_exception):
            context.is_disconnect = True


@pytest.fixture
def lose_connection(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[LostConnection]:
    faults = LostConnection(engine)
    real_commit = engine.dialect.do_commit
    monkeypatch.setattr(
        engine.dialect, "do_commit", lambda dbapi_connection: faults.commit(real_commit, dbapi_connection)
    )
    event.listen(engine, "before_cursor_execute", faults.before_cursor_execute)
    event.listen(engine, "handle_error", faults.handle_error)
    try:
        yield faults
    finally:
        event.remove(engine, "before_cursor_execute", faults.before_cursor_execute)
        event.remove(engine, "handle_error", faults.handle_error)


@contextmanager
def read_only_database(engine: Engine) -> Iterator[None]:
    """Every transaction may read and none may write, as on a database that failed over to a
    read-only standby. SQLite: query_only, switched on once BEGIN IMMEDIATE has its lock and
    off again when the connection goes back to the pool."""
    if engine.dialect.name == "sqlite":

        def read_only(connection) -> None:
            connection.exec_driver_sql("PRAGMA query_only = ON")

        def writable_again(dbapi_connection, _record) -> None:
            if dbapi_connection is not None:
                dbapi_connection.execute("PRAGMA query_only = OFF")

        listeners = [("begin", read_only), ("checkin", writable_again)]
    else:

        def read_only(connection) -> None:
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")

        listeners = [("begin", read_only)]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
        engine.dispose()  # no connection is left read-only


@contextmanager
def every_log_record() -> Iterator[list[logging.LogRecord]]:
    """Every record logged at any level by any logger (the root at DEBUG, SQLAlchemy's echo and
    pool loggers, werkzeug and the app's own), while the block runs."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    loggers = [logging.getLogger()] + [
        logging.getLogger(name)
        for name in (*logging.root.manager.loggerDict, "sqlalchemy", "sqlalchemy.engine", "sqlalchemy.pool", "werkzeug")
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    handler = Keep(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        yield records
    finally:
        logging.getLogger().removeHandler(handler)
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled


def log_text(records: list[logging.LogRecord]) -> str:
    """The records as a log file would hold them, tracebacks included."""
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    return "\n".join(formatter.format(record) for record in records)


def assert_no_family_traces(records: list[logging.LogRecord]) -> None:
    text = log_text(records).casefold()
    found = [trace for trace in FAMILY_TRACES if trace.casefold() in text]
    assert not found, f"the log carries {found}:\n{log_text(records)[-3000:]}"


def assert_form_kept(response, title: str = "Your message was not sent") -> str:
    html = text_of(response)
    assert title in html
    assert f'value="{FAMILY["name"]}"' in html
    assert f'value="{FAMILY["email"]}"' in html
    assert f"{FAMILY['message']}</textarea>" in html
    assert "Traceback" not in html
    assert 'name="rendered" type="hidden" value="' in html  # ready to send again
    return html


# --- 1. nothing a family wrote reaches a log -------------------------------------------------------


def test_a_read_only_database_logs_none_of_what_the_family_wrote(site, engine, outage_app):
    data = form_for(outage_app, site, **FAMILY)
    with (
        app_config(outage_app, PROPAGATE_EXCEPTIONS=False),
        read_only_database(engine),
        every_log_record() as records,
    ):
        response = site.post("/get-in-touch", data=data)

    assert response.status_code == 500
    assert_form_kept(response)
    assert stored(engine, email=FAMILY["email"]) == []
    assert any(record.name == "crm" and record.levelno >= logging.ERROR for record in records)  # it was logged
    assert any(record.name.startswith("sqlalchemy.engine") for record in records)  # echo was on
    assert_no_family_traces(records)


def test_an_exception_message_that_quotes_the_family_is_logged_without_it(site, outage_app, monkeypatch):
    """Drivers quote rows in their messages (PostgreSQL: "Failing row contains (...)"), and so
    does Python ("invalid literal for int(): '...'"): Flask's "Exception on ..." log leaves
    the messages out, keeping the types, the statement and where it happened."""
    from crm.public import services

    def quoting(details, *_args, **_kwargs):
        row = f"({details.name}, {details.email}, {details.phone}, {details.message})"
        try:
            raise ValueError(f"invalid literal for int() with base 10: {details.name!r}")
        except ValueError as cause:
            raise IntegrityError(
                "INSERT INTO inquiries (name) VALUES (?)", None, Exception(f"Failing row contains {row}")
            ) from cause

    data = form_for(outage_app, site, **FAMILY)
    monkeypatch.setattr(services, "send_inquiry", quoting)
    with app_config(outage_app, PROPAGATE_EXCEPTIONS=False), every_log_record() as records:
        response = site.post("/get-in-touch", data=data)

    assert response.status_code == 500
    assert_form_kept(response)
    text = log_text(records)
    assert "Exception on /get-in-touch [POST]" in text
    assert "IntegrityError" in text
    assert "ValueError" in text
    assert "INSERT INTO inquiries" in text
    assert "in quoting" in text  # the traceback's frames are kept
    assert_no_family_traces(records)


# --- 2. a lost connection is tried again, once ----------------------------------------------------


def test_a_connection_lost_at_the_insert_is_tried_again_and_stores_one_inquiry(
    site, outage_app, engine, lose_connection
):
    family = {**FAMILY, "email": "lost.at.insert@example.org"}
    data = form_for(outage_app, site, **family)
    lose_connection.statements["INSERT INTO inquiries"] = 1

    with every_log_record() as records:
        response = site.post("/get-in-touch", data=data)

    assert lose_connection.lost == 1
    assert response.status_code == 302, text_of(response)[:2000]
    [(inquiry_id, reference)] = stored(engine, email=family["email"])
    assert thank_you_reference(site) == reference
    assert queued_kinds(engine, inquiry_id) == ["contact_notice", "requester_ack"]
    assert any("trying once more" in record.getMessage() for record in records)
    assert_no_family_traces(records)


def test_a_commit_that_went_through_but_lost_its_answer_is_not_stored_twice(site, outage_app, engine, lose_connection):
    """The outcome of a COMMIT whose connection drops is unknown: the second attempt looks the
    reference up first and finds it."""
    family = {**FAMILY, "email": "lost.after.commit@example.org"}
    data = form_for(outage_app, site, **family)
    lose_connection.commits_lost_after = 1

    with every_log_record() as records:
        response = site.post("/get-in-touch", data=data)

    assert lose_connection.lost == 1
    assert_no_family_traces(records)  # the stored row read back is not logged, even at DEBUG
    assert response.status_code == 302, text_of(response)[:2000]
    [(inquiry_id, reference)] = stored(engine, email=family["email"])
    assert thank_you_reference(site) == reference
    assert queued_kinds(engine, inquiry_id) == ["contact_notice", "requester_ack"]


def test_a_commit_that_never_arrived_is_stored_by_the_second_attempt(site, outage_app, engine, lose_connection):
    family = {**FAMILY, "email": "lost.before.commit@example.org"}
    data = form_for(outage_app, site, **family)
    lose_connection.commits_lost_before = 1

    response = site.post("/get-in-touch", data=data)

    assert lose_connection.lost == 1
    assert response.status_code == 302, text_of(response)[:2000]
    [(inquiry_id, reference)] = stored(engine, email=family["email"])
    assert thank_you_reference(site) == reference
    assert queued_kinds(engine, inquiry_id) == ["contact_notice", "requester_ack"]


def test_a_connection_lost_after_the_commit_does_not_fail_the_send(site, outage_app, engine, lose_connection):
    """Everything the thank-you page says is worked out before the commit, and the page itself
    needs no database: a family whose message was stored is never told it was not."""
    family = {**FAMILY, "email": "lost.after.stored@example.org"}
    data = form_for(outage_app, site, **family)
    lose_connection.everything_after_commit = True

    response = site.post("/get-in-touch", data=data)
    thanks = site.get("/get-in-touch/thank-you")

    lose_connection.statements.clear()
    assert response.status_code == 302, text_of(response)[:2000]
    [(inquiry_id, reference)] = stored(engine, email=family["email"])
    assert thanks.status_code == 200
    assert REFERENCE_RE.search(text_of(thanks)).group(1) == reference
    assert "Bootheel Babies &amp; Families will answer you" in text_of(thanks)
    assert queued_kinds(engine, inquiry_id) == ["contact_notice", "requester_ack"]


def test_a_connection_lost_twice_gets_a_503_with_the_text_kept_and_nothing_stored(
    site, outage_app, engine, lose_connection
):
    family = {**FAMILY, "email": "lost.twice@example.org"}
    data = form_for(outage_app, site, **family)
    lose_connection.statements["INSERT INTO inquiries"] = 2
    before = count_inquiries(engine)

    with every_log_record() as records:
        response = site.post("/get-in-touch", data=data)

    assert lose_connection.lost == 2
    assert response.status_code == 503
    html = text_of(response)
    assert "Your message was not sent" in html
    assert 'value="lost.twice@example.org"' in html
    assert f"{FAMILY['message']}</textarea>" in html
    assert "Traceback" not in html
    assert count_inquiries(engine) == before
    assert stored(engine, email=family["email"]) == []
    assert_no_family_traces(records)
    # Nothing half-done is left behind: the next send goes through.
    assert site.post("/get-in-touch", data=form_for(outage_app, site, **family)).status_code == 302
    assert len(stored(engine, email=family["email"])) == 1


def test_a_database_out_of_reach_still_shows_the_form_again_in_spanish(site, outage_app, engine, lose_connection):
    """Not a statement gets through, not even the topics for the form: what the visitor wrote
    comes back all the same, in their language, and only the topic is asked for again."""
    site.get("/get-in-touch?lang=es")
    data = form_for(outage_app, site, **FAMILY, language="es")
    with outage_app.app_context():
        reference_cache.forget()  # the topics, too, must come from the database
    lose_connection.statements[""] = 1_000_000

    with every_log_record() as records:
        response = site.post("/get-in-touch", data=data)

    lose_connection.statements.clear()
    assert lose_connection.lost >= 3  # both attempts, and the topics for the form
    assert response.status_code == 503
    assert_form_kept(response, title="Su mensaje no se envió")
    assert '<html lang="es">' in text_of(response)
    assert "No podemos acceder a nuestros registros en este momento" in text_of(response)
    assert stored(engine, email=FAMILY["email"]) == []
    assert_no_family_traces(records)


def test_with_the_topics_in_hand_the_form_comes_back_with_its_topic_chosen(site, outage_app, engine, lose_connection):
    """The topics this process read a moment ago (crm.reference_cache) need no database: the
    form comes back with the visitor's topic still chosen."""
    data = form_for(outage_app, site, **FAMILY)
    lose_connection.statements[""] = 1_000_000

    response = site.post("/get-in-touch", data=data)

    lose_connection.statements.clear()
    assert response.status_code == 503
    html = assert_form_kept(response)
    assert re.search(rf'<option selected value="{data["topic"]}"|<option value="{data["topic"]}" selected', html)
    assert stored(engine, email=FAMILY["email"]) == []


def test_the_form_page_is_drawn_again_when_its_connection_is_lost(site, lose_connection):
    lose_connection.statements["SELECT topics"] = 1

    response = site.get("/get-in-touch")

    assert lose_connection.lost == 1
    assert response.status_code == 200
    assert 'name="rendered" type="hidden"' in text_of(response)


def test_the_thank_you_page_needs_no_database(site, outage_app, lose_connection):
    data = form_for(outage_app, site, **{**FAMILY, "email": "thanks.offline@example.org"})
    assert site.post("/get-in-touch", data=data).status_code == 302
    lose_connection.statements[""] = 1_000_000

    response = site.get("/get-in-touch/thank-you")

    lose_connection.statements.clear()
    assert response.status_code == 200
    assert REFERENCE_RE.search(text_of(response))


@pytest.mark.parametrize("path", ["/dashboard", "/inquiries/", "/organisations/"])
def test_a_staff_page_that_loses_the_database_answers_503_and_the_next_request_works(site, lose_connection, path):
    response = site.post("/login", data={"email": "staff@example.org", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    lose_connection.statements[""] = 1_000_000

    response = site.get(path)

    lose_connection.statements.clear()
    assert response.status_code == 503
    html = text_of(response)
    assert "try again" in html.lower()
    assert "Traceback" not in html
    assert "<h1>" in html
    # Rolled back, on a fresh connection: the next request is served as usual.
    assert site.get(path).status_code == 200


def test_a_staff_page_losing_the_connection_mid_page_answers_503(site, lose_connection):
    """The user is loaded, then the page's own query loses the connection."""
    assert site.post("/login", data={"email": "staff@example.org", "password": DEMO_PASSWORD}).status_code == 302
    lose_connection.statements["SELECT organisations"] = 1

    response = site.get("/organisations/")

    lose_connection.statements.clear()
    assert lose_connection.lost == 1
    assert response.status_code == 503
    assert "try again" in text_of(response).lower()
    assert site.get("/organisations/").status_code == 200


def test_a_staff_save_that_loses_the_database_says_to_check_before_sending_again(site, engine, lose_connection):
    """A staff save is not tried again (its commit may have gone through): the 503 says so."""
    assert site.post("/login", data={"email": "staff@example.org", "password": DEMO_PASSWORD}).status_code == 302
    lose_connection.statements["INSERT INTO organisations"] = 1

    response = site.post(
        "/organisations/new", data={"name": "Lost Connection Doulas", "kind": "grantee", "state": "MO"}
    )

    assert lose_connection.lost == 1
    assert response.status_code == 503
    assert "check whether it was saved" in text_of(response)
    with engine.connect() as connection:
        assert (
            connection.scalar(select(func.count()).select_from(Organisation).filter_by(name="Lost Connection Doulas"))
            == 0
        )


@pytest.fixture(scope="module")
def unreachable_app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The app pointed at a database that refuses every connection."""
    if make_url(database_url).get_backend_name() == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('unreachable') / 'no such directory' / 'crm.sqlite'}"
    else:
        url = make_url(database_url).set(host="127.0.0.1", port=1).render_as_string(hide_password=False)
    return create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, PUBLIC_FORM_MIN_SECONDS=0)


def test_a_database_that_refuses_connections_gets_503s_not_500s(unreachable_app):
    client = unreachable_app.test_client()
    with unreachable_app.test_request_context():
        token = spam.issue_form_token()

    assert client.get("/get-in-touch").status_code == 503
    response = client.post(
        "/get-in-touch",
        data={**FAMILY, "zip_code": "63857", "topic": "1", "language": "en", "consent": "y", "rendered": token},
    )

    assert response.status_code == 503
    assert_form_kept(response)
    assert client.get("/login").status_code == 200  # needs no database
    assert client.post("/login", data={"email": "staff@example.org", "password": "x"}).status_code == 503
