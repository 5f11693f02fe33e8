"""On PostgreSQL: the Get in Touch form, served by a real server, while another thread keeps
killing the app's database connections (pg_terminate_backend).

A send that loses its connection is tried once more, so families get a thank-you page or,
when both attempts fail, a 503 with their text kept; never a 500. And what the pages said is
what the database holds: every thank-you page's reference is stored exactly once, with that
family's message and its two emails, and nothing is stored that got no thank-you page.
"""

from __future__ import annotations

import http.client
import logging
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import psycopg
import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from config import TestConfig
from crm import create_app
from crm.demo import seed_demo
from crm.extensions import db
from crm.models import Inquiry, OutboundEmail
from crm.public import spam
from tests.fixtures_database import database_of_its_own
from tests.live_server import LiveServer
from tests.public_support import GENEROUS_LIMIT, first_topic_id

SENDS = 100
SENDERS = 2
KILL_EVERY = 0.4  # seconds between rounds of pg_terminate_backend
REFERENCE_RE = re.compile(r'<strong class="reference">([^<]+)</strong>')


@dataclass(frozen=True)
class Outcome:
    email: str
    status: int  # the POST's
    reference: str | None = None  # from the thank-you page, after a 302
    thanks_status: int | None = None


@pytest.fixture(scope="module")
def killable(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    """(app, application_name): the app on a schema of its own, its connections named so that
    only they are killed."""
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("kills PostgreSQL backends: set TEST_DATABASE_URL=postgresql+psycopg://...")
    application_name = f"crm_killed_{secrets.token_hex(4)}"
    with database_of_its_own(database_url, tmp_path_factory.mktemp("killed"), "killed") as (url, options):
        options["connect_args"]["application_name"] = application_name
        app = create_app(
            TestConfig,
            SQLALCHEMY_DATABASE_URI=url,
            SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, **options},
            # Sends arrive at once and from one address: no bot timing, no rate limit in the way.
            PUBLIC_FORM_MIN_SECONDS=0,
            PUBLIC_FORM_RATE_LIMIT=GENEROUS_LIMIT,
        )
        with app.app_context():
            db.create_all()
            seed_demo("killed connections demo password")
            db.session.remove()
        yield app, application_name
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def libpq_conninfo(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def keep_killing(conninfo: str, application_name: str, stop: threading.Event, killed: list[int]) -> None:
    with psycopg.connect(conninfo, autocommit=True, application_name="crm_killer") as connection:
        while not stop.is_set():
            row = connection.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                (application_name,),
            ).fetchone()
            killed.append(row[0])
            stop.wait(KILL_EVERY)


def send(port: int, number: int, token: str, topic_id: int) -> Outcome:
    email = f"family{number}@example.org"
    body = urlencode(
        {
            "name": f"Family {number}",
            "email": email,
            "phone": "",
            "zip_code": "63857",
            "topic": str(topic_id),
            "language": "en",
            "message": f"Message number {number}: we would like to know what support there is nearby.",
            "consent": "y",
            "website": "",
            "rendered": token,
        }
    )
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/get-in-touch", body, {"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        response.read()
        if response.status != 302:
            return Outcome(email=email, status=response.status)
        cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
        connection.request("GET", "/get-in-touch/thank-you", headers={"Cookie": cookie})
        thanks = connection.getresponse()
        match = REFERENCE_RE.search(thanks.read().decode())
        return Outcome(email, 302, match.group(1) if match else None, thanks.status)
    finally:
        connection.close()


def test_killed_connections_neither_fail_nor_lose_nor_double_an_inquiry(killable, database_url):
    app, application_name = killable
    with app.test_request_context():
        token = spam.issue_form_token()
        topic_id = first_topic_id()
        db.session.remove()

    retries: list[logging.LogRecord] = []

    class KeepRetries(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "trying once more" in record.getMessage():
                retries.append(record)

    keep_retries = KeepRetries()
    app.logger.addHandler(keep_retries)
    outcomes: list[Outcome] = []
    killed: list[int] = []
    stop = threading.Event()
    try:
        with LiveServer(app) as server:
            port = urlsplit(server.url).port
            killer = threading.Thread(
                target=keep_killing, args=(libpq_conninfo(database_url), application_name, stop, killed), daemon=True
            )
            killer.start()

            def sender(numbers: range) -> None:
                for number in numbers:
                    outcomes.append(send(port, number, token, topic_id))

            senders = [threading.Thread(target=sender, args=(range(n, SENDS, SENDERS),)) for n in range(SENDERS)]
            for thread in senders:
                thread.start()
            for thread in senders:
                thread.join(timeout=120)
            stop.set()
            killer.join(timeout=10)
    finally:
        stop.set()
        app.logger.removeHandler(keep_retries)

    assert len(outcomes) == SENDS
    assert sum(killed) > 0, "no connection was killed"
    assert retries, "no send lost its connection: the test proved nothing"
    statuses = sorted({outcome.status for outcome in outcomes})
    assert set(statuses) <= {302, 503}, f"statuses: {statuses}"
    thanked = [outcome for outcome in outcomes if outcome.status == 302]
    assert all(outcome.thanks_status == 200 and outcome.reference for outcome in thanked)
    references = [outcome.reference for outcome in thanked]
    assert len(set(references)) == len(references)

    with app.app_context():
        stored = dict(db.session.execute(select(Inquiry.reference, Inquiry.email)).all())
        emails_per_inquiry = set(
            db.session.scalars(select(func.count()).select_from(OutboundEmail).group_by(OutboundEmail.inquiry_id)).all()
        )
        db.session.remove()
    # Exactly what the thank-you pages named is stored, each with the family that was thanked.
    assert stored == {outcome.reference: outcome.email for outcome in thanked}
    assert emails_per_inquiry == {2}
