"""Fixtures: one app and schema per run, one rolled-back transaction per test.

Set TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run the
suite on PostgreSQL; it runs on in-memory SQLite otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, g, request_started
from flask.testing import FlaskClient
from sqlalchemy import event

from config import TestConfig
from crm import create_app, reference_cache
from crm.extensions import db, limiter
from crm.models import Role, User
from tests import factories

pytest_plugins = ["tests.fixtures_database", "tests.fixtures_world", "tests.smtp_server", "tests.gunicorn_server"]

TEST_PASSWORD = "correct horse battery staple"  # noqa: S105


def _forget_cached_user(_sender, **_extra) -> None:
    g.pop("_login_user", None)


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url)
    # Each test keeps one app context open, which requests reuse, so Flask-Login's cached user
    # in `g` would outlive a request; forget it at the start of each one, as a real server does.
    request_started.connect(_forget_cached_user, app)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.drop_all()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _isolated_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run each test inside a transaction that is rolled back afterwards.

    The session joins that transaction with savepoints, so the code under test may commit
    and roll back freely without ending it (Flask-SQLAlchemy issue #1171's pattern).
    """
    if "app" not in request.fixturenames and not request.node.get_closest_marker("db"):
        yield
        return
    app: Flask = request.getfixturevalue("app")
    with app.app_context():
        engines = db.engines
        engine = engines[None]
        connection = engine.connect()
        transaction = connection.begin()
        engines[None] = connection
        limiter.reset()
        # What an earlier test read is rolled back with it.
        reference_cache.forget()
        try:
            yield
        finally:
            db.session.remove()
            transaction.rollback()
            connection.close()
            engines[None] = engine


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def app_context(app: Flask) -> Iterator[None]:
    with app.test_request_context():
        yield


@pytest.fixture
def make_user(app: Flask):
    def make(role: Role = Role.STAFF, **fields) -> User:
        return factories.UserFactory(role=role, **fields)

    return make


@pytest.fixture
def login(client: FlaskClient, make_user):
    """Sign the test client in as a new user of the given role and return that user."""

    def sign_in(role: Role = Role.STAFF, **fields) -> User:
        user = make_user(role, **fields)
        response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return user

    return sign_in


@pytest.fixture
def count_queries(app: Flask):
    """Count the SQL statements a block runs: `with count_queries() as counter: ...; counter.count`."""
    from contextlib import contextmanager

    @contextmanager
    def counting():
        class Counter:
            count = 0

        def on_execute(*_args, **_kwargs):
            Counter.count += 1

        engine = db.engine
        event.listen(engine, "before_cursor_execute", on_execute)
        try:
            yield Counter
        finally:
            event.remove(engine, "before_cursor_execute", on_execute)

    return counting
