"""Two web servers and two job runners on one PostgreSQL database and one Redis, as on two hosts
(README, Production: more than one machine).

A stream of Get in Touch sends alternates between the servers, each form read from one server
and sent to the other (the form's CSRF token lives in the signed cookie, not in a process),
each thank-you page read from the server the send did not go to. Then: every inquiry is
stored once, every email the outbox holds is delivered once to the SMTP server though two
runners were sending, and one address's sends over the form's limit get a 429 whichever
server they reach (the counts are in Redis).

The same again while another thread keeps killing every process's database connections
(pg_terminate_backend) and the SMTP server is down for a while: each send gets its thank-you
page or a 503, what was thanked is stored once and nothing else, and every email is still
delivered once.

Slow tier; needs TEST_DATABASE_URL=postgresql+psycopg://... and Redis at TEST_REDIS_URL.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import exists, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from config import DEVELOPMENT_SECRET_KEY, DevelopmentConfig
from crm import create_app
from crm.demo import seed_demo
from crm.extensions import db
from crm.models import HeldPost, Inquiry, OutboundEmail
from crm.models.outbox import EmailStatus
from tests.fixtures_database import database_of_its_own
from tests.gunicorn_server import ROOT, Gunicorn
from tests.public_support import first_topic_id
from tests.redis_support import REDIS_URL, redis_or_skip
from tests.smtp_server import SMTPTestServer

pytestmark = pytest.mark.slow

SENDS = 40
SENDERS = 2
LIMIT = 3  # sends that go through per address per hour
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
RENDERED_RE = re.compile(r'name="rendered" type="hidden" value="([^"]+)"')
REFERENCE_RE = re.compile(r'<strong class="reference">([^<]+)</strong>')
DELIVERY_SECONDS = 150
# Every process's connections carry this name, so that only they are killed.
APPLICATION_NAME = f"crm_two_{secrets.token_hex(4)}"
KILL_EVERY = 1.0  # seconds between rounds of pg_terminate_backend


@pytest.fixture(scope="module")
def redis_prefix() -> Iterator[tuple[object, str]]:
    connection = redis_or_skip()
    prefix = f"two-instances-{uuid.uuid4().hex}"
    yield connection, prefix
    for key in connection.scan_iter(f"*{prefix}*"):
        connection.delete(key)
    connection.close()


@pytest.fixture(scope="module")
def shared_database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL every process can use for one fresh PostgreSQL schema with the demo data."""
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("two instances share PostgreSQL: set TEST_DATABASE_URL=postgresql+psycopg://...")
    with database_of_its_own(database_url, tmp_path_factory.mktemp("two"), "two") as (_url, options):
        search_path = options["connect_args"]["options"]
        query = {"options": search_path, "application_name": APPLICATION_NAME}
        url = make_url(database_url).update_query_dict(query).render_as_string(hide_password=False)
        app = create_app(DevelopmentConfig, SQLALCHEMY_DATABASE_URI=url, TWO_FACTOR_REQUIRED_ROLES="")
        with app.app_context():
            db.create_all()
            seed_demo("two instances demo password")
            db.session.remove()
            db.engine.dispose()
        yield url


def _environment(url: str, prefix: str, **extra: str) -> dict[str, str]:
    """What every process of every "host" reads: the same key, database, Redis and limits."""
    return {
        "CRM_ENV": "development",
        "SECRET_KEY": DEVELOPMENT_SECRET_KEY,
        "DATABASE_URL": url,
        "DATABASE_POOL_SIZE": "1",
        "DATABASE_MAX_OVERFLOW": "1",
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
        "PUBLIC_FORM_RATE_LIMIT": f"{LIMIT} per hour",
        "PUBLIC_FORM_MIN_SECONDS": "0",
        # A routing budget of one send for the module's run (the key prefix is the module's):
        # the first send is routed at once, every other one held and filed by whichever runner
        # claims it (crm.inquiries.held_posts).
        "PUBLIC_FORM_ROUTING_BUDGET": "1 per hour",
        # One proxy in front: each family's address comes in X-Forwarded-For.
        "TRUSTED_PROXY_COUNT": "1",
        "TWO_FACTOR_REQUIRED_ROLES": "",
        "MAIL_SERVER": "",
        **extra,
    }


class JobRunner:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = {**os.environ, **env}
        self.log = log
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> JobRunner:
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
                [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "jobs"],
                cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def __exit__(self, *_exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def _two_hosts(url: str, prefix: str, logs: Path) -> Iterator[tuple[list[str], SMTPTestServer]]:
    """Two "hosts" on one database and one Redis, each a gunicorn with two workers and a job
    runner delivering to one SMTP server: (the two servers' base URLs, the SMTP server). All
    of them are stopped on the way out, whatever happened inside."""
    smtp = SMTPTestServer()
    smtp.start()
    mail = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp.port), "MAIL_USE_TLS": "false", "JOBS_POLL_SECONDS": "1"}
    try:
        with (
            Gunicorn(["-w", "2", "wsgi:app"], env=_environment(url, prefix), log=logs / "web-a.log") as web_a,
            Gunicorn(["-w", "2", "wsgi:app"], env=_environment(url, prefix), log=logs / "web-b.log") as web_b,
            JobRunner(_environment(url, prefix, **mail), logs / "jobs-a.log"),
            JobRunner(_environment(url, prefix, **mail), logs / "jobs-b.log"),
        ):
            yield [f"http://{web_a.host}:{web_a.port}", f"http://{web_b.host}:{web_b.port}"], smtp
    finally:
        smtp.stop()


def _send(httpx, form_from, send_to, thanks_from, number, address, topic_id, domain="two.example.org"):
    """Read the form from one server, send it to another, read the thank-you page from a
    third (or the first): (the send's status, the reference on the thank-you page)."""
    with httpx.Client(timeout=60) as browser:
        form = browser.get(f"{form_from}/get-in-touch")
        if form.status_code != 200:
            return form.status_code, None
        page = form.text
        fields = {
            "csrf_token": CSRF_RE.search(page).group(1),
            "rendered": RENDERED_RE.search(page).group(1),
            "name": f"Family {number}",
            "email": f"family{number}@{domain}",
            "phone": "",
            "zip_code": "63857",
            "topic": str(topic_id),
            "language": "en",
            "message": f"Send number {number}: we would like to know what help there is near us.",
            "consent": "y",
            "website": "",
        }
        sent = browser.post(f"{send_to}/get-in-touch", data=fields, headers={"X-Forwarded-For": address})
        if sent.status_code != 302:
            return sent.status_code, None
        thanks = browser.get(f"{thanks_from}/get-in-touch/thank-you").text
        match = REFERENCE_RE.search(thanks)
        return 302, match.group(1) if match else None


def _senders(httpx, servers: list[str], network: str, topic_id: int, domain: str, outcomes: list) -> list[threading.Thread]:
    """SENDERS threads, not yet started, making the SENDS sends between them: each form read
    from one server and sent to the other, from an address of its own in `network` (a.b),
    each outcome (number, status, reference) appended to `outcomes`."""

    def sender(numbers: range) -> None:
        for number in numbers:
            form_from, send_to = servers[number % 2], servers[(number + 1) % 2]
            address = f"{network}.{number // 200}.{number % 200 + 1}"
            status, reference = _send(httpx, form_from, send_to, form_from, number, address, topic_id, domain)
            outcomes.append((number, status, reference))

    return [threading.Thread(target=sender, args=(range(n, SENDS, SENDERS),)) for n in range(SENDERS)]


def _wait_for_delivery(app, smtp: SMTPTestServer) -> None:
    # Held sends first: their emails are queued when a runner files them.
    _wait_for(app, select(~exists(select(HeldPost.id))), DELIVERY_SECONDS)
    deadline = time.monotonic() + DELIVERY_SECONDS
    while time.monotonic() < deadline:
        with app.app_context():
            waiting = db.session.scalar(
                select(func.count()).select_from(OutboundEmail).where(OutboundEmail.status != EmailStatus.SENT)
            )
            db.session.remove()
        if waiting == 0:
            return
        time.sleep(0.5)
    pytest.fail(f"{waiting} emails still not sent after {DELIVERY_SECONDS} s; {len(smtp.messages)} received")


def test_two_servers_and_two_runners_store_send_and_limit_once(shared_database, redis_prefix, tmp_path):
    httpx = pytest.importorskip("httpx")
    redis, prefix = redis_prefix
    url = shared_database
    app = create_app(DevelopmentConfig, SQLALCHEMY_DATABASE_URI=url, TWO_FACTOR_REQUIRED_ROLES="")
    with app.app_context():
        topic_id = first_topic_id()
        db.session.remove()
    outcomes: list[tuple[int, int, str | None]] = []
    with _two_hosts(url, prefix, tmp_path) as (servers, smtp):
        threads = _senders(httpx, servers, "10.20", topic_id, "two.example.org", outcomes)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)

        # One address, over the limit, alternating between the servers.
        limited = [
            _send(httpx, servers[n % 2], servers[n % 2], servers[n % 2], 1000 + n, "10.99.0.1", topic_id)[0]
            for n in range(LIMIT + 3)
        ]

        _wait_for_delivery(app, smtp)
        time.sleep(2)  # a message delivered twice would arrive within a poll or two

    assert sorted(number for number, _status, _reference in outcomes) == list(range(SENDS))
    assert {status for _number, status, _reference in outcomes} == {302}, outcomes
    references = [reference for _number, _status, reference in outcomes]
    assert all(references), outcomes
    assert limited == [302] * LIMIT + [429] * 3
    assert any(b"public-form-sent:10.99.0.1" in key for key in redis.scan_iter(f"*{prefix}*"))

    with app.app_context():
        stored = db.session.execute(
            select(Inquiry.reference, Inquiry.email).where(Inquiry.email.like("%@two.example.org"))
        ).all()
        emails = db.session.execute(select(OutboundEmail.message_id, OutboundEmail.status)).all()
        db.session.remove()
        db.engine.dispose()
    # Every thanked send is one inquiry, with the family that was thanked.
    assert len(stored) == SENDS + LIMIT
    assert {reference for reference, _email in stored} >= set(references)
    assert len({reference for reference, _email in stored}) == len(stored)
    # Every email the outbox holds was sent, and received exactly once.
    assert {status for _id, status in emails} == {EmailStatus.SENT}
    received = Counter(message["Message-ID"] for message in smtp.messages)
    assert [message_id for message_id, times in received.items() if times > 1] == []
    assert set(received) == {message_id for message_id, _status in emails}
    assert len(emails) >= SENDS + LIMIT  # an acknowledgement per send, at least


def _wait_for(app, query, seconds: float = 120) -> None:
    """Until `query` gives a true value, asked again when a killed connection fails it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with app.app_context():
                try:
                    if db.session.scalar(query):
                        return
                finally:
                    db.session.remove()
        except (OperationalError, psycopg.OperationalError):
            pass  # its connection was killed: ask again
        time.sleep(0.3)
    pytest.fail(f"not true after {seconds} s: {query}")


def _keep_killing(database_url: str, stop: threading.Event, killed: list[int]) -> None:
    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True, application_name="crm_two_killer") as connection:
        while not stop.is_set():
            row = connection.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                (APPLICATION_NAME,),
            ).fetchone()
            killed.append(row[0])
            stop.wait(KILL_EVERY)


def test_killed_connections_and_a_stopped_mail_server_lose_and_double_nothing(
    shared_database, redis_prefix, database_url, tmp_path
):
    httpx = pytest.importorskip("httpx")
    _redis, prefix = redis_prefix
    url = shared_database
    domain = "killed.example.org"
    app = create_app(DevelopmentConfig, SQLALCHEMY_DATABASE_URI=url, TWO_FACTOR_REQUIRED_ROLES="")
    with app.app_context():
        topic_id = first_topic_id()
        first_new_email = (db.session.scalar(select(func.max(OutboundEmail.id))) or 0) + 1
        db.session.remove()
        db.engine.dispose()
    outcomes: list[tuple[int, int, str | None]] = []
    killed: list[int] = []
    stop = threading.Event()
    try:
        with _two_hosts(url, prefix, tmp_path) as (servers, smtp):
            killer = threading.Thread(target=_keep_killing, args=(database_url, stop, killed), daemon=True)
            killer.start()
            threads = _senders(httpx, servers, "10.30", topic_id, domain, outcomes)
            smtp.stop()  # the mail server is down until a runner has failed to reach it
            for thread in threads:
                thread.start()
            _wait_for(app, select(func.max(OutboundEmail.attempts)).where(OutboundEmail.id >= first_new_email))
            smtp.start()
            for thread in threads:
                thread.join(timeout=300)
            stop.set()
            killer.join(timeout=10)
            _wait_for_delivery(app, smtp)
            time.sleep(2)  # a message delivered twice would arrive within a poll or two
    finally:
        stop.set()

    assert sum(killed) > 0, "no connection was killed: the test proved nothing"
    assert sorted(number for number, _status, _reference in outcomes) == list(range(SENDS))
    assert {status for _number, status, _reference in outcomes} <= {302, 503}, outcomes
    thanked = {reference for _number, status, reference in outcomes if status == 302}
    assert None not in thanked, outcomes
    with app.app_context():
        stored = db.session.scalars(select(Inquiry.reference).where(Inquiry.email.like(f"%@{domain}"))).all()
        emails = db.session.execute(
            select(OutboundEmail.message_id, OutboundEmail.status).where(OutboundEmail.id >= first_new_email)
        ).all()
        most_attempts = db.session.scalar(
            select(func.max(OutboundEmail.attempts)).where(OutboundEmail.id >= first_new_email)
        )
        db.session.remove()
        db.engine.dispose()
    # What the thank-you pages named is stored, once each, and nothing else.
    assert sorted(stored) == sorted(thanked)
    assert {status for _id, status in emails} == {EmailStatus.SENT}
    assert most_attempts >= 1, "no delivery met the mail server down: the test proved nothing"
    received = Counter(message["Message-ID"] for message in smtp.messages)
    assert [message_id for message_id, times in received.items() if times > 1] == []
    assert set(received) == {message_id for message_id, _status in emails}
