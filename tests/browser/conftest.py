"""Fixtures for browser tests: a live server over a database of its own, and Chromium.

These tests never use the `app` fixture (and so never the per-test rollback): the server
runs in another thread and must see committed data. The database is a temporary SQLite
file, or, with TEST_DATABASE_URL set to PostgreSQL, a fresh schema dropped afterwards.

Chromium comes from Debian (/usr/bin/chromium); Playwright's own browser download is not
used. Without it these tests are skipped, unless CRM_REQUIRE_BROWSER=1 (as in .ci/run),
where a missing browser is an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from config import TestConfig
from crm import create_app
from crm.extensions import db
from tests.fixtures_database import database_of_its_own
from tests.live_server import LiveServer

CHROMIUM = Path(os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING_CHROMIUM = f"Chromium not found at {CHROMIUM}: apt-get install chromium to run the browser tests"
DEMO_PASSWORD = "browser tests demo password"  # noqa: S105
BLOCKING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="session", autouse=True)
def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CRM_REQUIRE_BROWSER") == "1":
        pytest.fail(MISSING_CHROMIUM)
    pytest.skip(MISSING_CHROMIUM)


@pytest.fixture(scope="session")
def live_database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    """(url, engine options) for a database no other test uses."""
    with database_of_its_own(database_url, tmp_path_factory.mktemp("browser"), "browser") as database:
        yield database


@pytest.fixture(scope="session")
def live_app(live_database: tuple[str, dict]) -> Iterator[Flask]:
    """The app as a browser meets it: CSRF on, demo data loaded."""
    from crm.demo import seed_demo

    url, engine_options = live_database
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, **engine_options},
        WTF_CSRF_ENABLED=True,
    )
    with app.app_context():
        db.create_all()
        seed_demo(DEMO_PASSWORD)
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def live_url(live_app: Flask) -> Iterator[str]:
    with LiveServer(live_app) as server:
        yield server.url


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium, live_url: str) -> Iterator[Callable]:
    """new_page(width=1280, height=900) -> a Playwright page in a fresh context at live_url."""
    contexts = []

    def make(width: int = 1280, height: int = 900):
        context = chromium.new_context(base_url=live_url, viewport={"width": width, "height": height})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def describe_violations(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}  {violation.get('helpUrl', '')}")
        for node in violation["nodes"]:
            lines.append(f"    at {', '.join(map(str, node['target']))}")
            lines.append(f"       {node.get('html', '').strip()[:200]}")
            summary = (node.get("failureSummary") or "").replace("\n", "\n       ")
            if summary:
                lines.append(f"       {summary}")
    return "\n".join(lines)


@pytest.fixture
def assert_accessible() -> Callable:
    """assert_accessible(page): axe finds nothing serious or critical on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()

    def check(page) -> None:
        results = axe.run(page)
        blocking = [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]
        assert not blocking, f"axe found serious/critical problems on {page.url}:\n" + describe_violations(blocking)

    return check


@pytest.fixture
def sign_in() -> Callable:
    """sign_in(page, email, password=DEMO_PASSWORD, go_to_login=True): fill in the sign-in page
    (opened first, unless the page was sent there already, e.g. by a link that asks to sign in)
    and check that it let the user in."""

    def fill(page, email: str, password: str = DEMO_PASSWORD, *, go_to_login: bool = True) -> None:
        if go_to_login:
            page.goto("/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        assert "/login" not in page.url, page.locator("main").inner_text()

    return fill


@pytest.fixture
def mail(live_app: Flask, live_url: str, smtp_server, monkeypatch) -> Callable:
    """Point the live app's mail at the test SMTP server and its links at the live server;
    deliver() sends the due outbox once and returns the messages received so far."""
    from crm.database import utcnow
    from crm.mail.smtp import SMTPTransport
    from crm.mail.worker import send_due

    for key, value in {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_server.port,
        "MAIL_DEFAULT_SENDER": "Backbone CRM <crm@backbone-crm.test>",
        "MAIL_TIMEOUT": 5,
        "PUBLIC_BASE_URL": live_url,
    }.items():
        monkeypatch.setitem(live_app.config, key, value)

    def deliver():
        with live_app.app_context():
            send_due(utcnow(), SMTPTransport.from_config(live_app.config))
            db.session.remove()
        return smtp_server.messages

    return deliver
