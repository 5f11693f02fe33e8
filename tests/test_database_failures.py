"""When the database fails, nothing a family wrote reaches a log.

These tests use an app with a database of its own, which they make read-only as after a
failover (conftest's per-test rollback would hide that).
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
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from config import TestConfig
from crm import create_app
from crm.demo import seed_demo
from crm.extensions import db
from crm.models import Inquiry, OutboundEmail
from tests.fixtures_database import database_of_its_own
from tests.public_support import GENEROUS_LIMIT, app_config, text_of, valid_form

DEMO_PASSWORD = "outage tests demo password"  # noqa: S105
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


# --- the database's failures, simulated -------------------------------------------------------


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
