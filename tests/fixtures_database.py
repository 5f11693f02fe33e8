from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config import TestConfig
from crm import create_app
from crm.demo import seed_demo
from crm.extensions import db


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
