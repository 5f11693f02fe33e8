from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config import TestConfig
from crm import audit, create_app
from crm.demo import seed_demo
from crm.extensions import db
from crm.inquiries.services import ActionRefused


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """TEST_DATABASE_URL, or an in-memory SQLite database per process.

    Under pytest-xdist each worker gets a PostgreSQL database of its own, named after the
    configured one and the worker (`test_gw0`, ...), made afresh and dropped afterwards: the
    session's tables and the schemas that tests make must not meet another worker's."""
    url = os.environ.get("TEST_DATABASE_URL") or "sqlite://"
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None or make_url(url).get_backend_name() == "sqlite":
        yield url
        return
    configured = make_url(url)
    name = f"{configured.database}_{worker}"
    admin = create_engine(configured.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield configured.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def database_of_its_own(database_url: str, directory: Path, prefix: str) -> Iterator[tuple[str, dict]]:
    """(url, engine options) for a database no other test uses, for an app whose commits must
    really happen (a live server, a lost connection): a SQLite file in `directory`, or, on
    PostgreSQL, a fresh schema named after `prefix`, dropped afterwards."""
    if make_url(database_url).get_backend_name() == "sqlite":
        yield f"sqlite:///{directory / f'{prefix}.sqlite'}", {}
        return
    schema = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(database_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield database_url, {"connect_args": {"options": f"-c search_path={schema}"}}
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def racing_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """An app with empty tables on a PostgreSQL schema of its own (database_of_its_own), whose
    commits really happen, for tests where two threads' transactions race. Skipped on SQLite,
    which lets one transaction write at a time."""
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("SQLite lets one transaction write at a time")
    with database_of_its_own(database_url, tmp_path, "race") as (url, options):
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options)
        with app.app_context():
            db.create_all()
            db.session.remove()
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def demo_racing_app(racing_app: Flask) -> Flask:
    """racing_app with the demo data: topics, routing rules, contacts to route to, staff."""
    with racing_app.app_context():
        seed_demo("demo password for tests")
        db.session.remove()
    return racing_app


def two_clicks_at_once(app: Flask, monkeypatch: pytest.MonkeyPatch, click: Callable[[Callable[[], None]], str]) -> list[str]:
    """The answers of two clicks at once on racing_app: ``click(both_read)`` runs in each of
    two threads, in a request context of its own; it reads what it acts on, calls
    ``both_read()`` once, then acts and returns its answer (an ActionRefused's message is the
    answer instead). The first commit waits a second, so the second click is at its own check
    and write by then: without a lock, both go through."""
    barrier = threading.Barrier(2, timeout=20)
    first = threading.Lock()
    real_commit = audit.commit

    def first_commit_waits(actor):
        if first.acquire(blocking=False):
            time.sleep(1.0)
        real_commit(actor)

    monkeypatch.setattr(audit, "commit", first_commit_waits)
    answers: list[str] = []

    def run() -> None:
        with app.test_request_context():
            try:
                answers.append(click(barrier.wait))
            except ActionRefused as refusal:
                answers.append(refusal.message)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers
