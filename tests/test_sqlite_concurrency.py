"""`make run` serves a SQLite file with the job runner beside it: writers that arrive together
must take turns, not fail with "database is locked"."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from config import TestConfig
from crm import create_app
from crm.demo import seed_demo
from crm.extensions import db
from crm.models import Inquiry, Topic
from tests.public_support import GENEROUS_LIMIT, TOKEN_RE

DEMO_PASSWORD = "concurrent writers"  # noqa: S105
STAFF_WRITERS = 8
PUBLIC_WRITERS = 4


@pytest.fixture
def file_app(tmp_path: Path):
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'crm.sqlite'}",
        PUBLIC_FORM_MIN_SECONDS=0,
        PUBLIC_FORM_RATE_LIMIT=GENEROUS_LIMIT,
    )
    with app.app_context():
        db.create_all()
        seed_demo(DEMO_PASSWORD)
        topic_id = db.session.scalar(select(Topic.id).order_by(Topic.sort_order).limit(1))
        db.session.remove()
    app.config["DEMO_TOPIC_ID"] = topic_id
    yield app
    with app.app_context():
        db.engine.dispose()


def _staff_post(app, number: int):
    client = app.test_client()
    signed_in = client.post("/login", data={"email": "staff@example.org", "password": DEMO_PASSWORD})
    assert signed_in.status_code == 302

    def send():
        return client.post(
            "/inquiries/new",
            data={
                "source": "phone",
                "name": f"Caller {number}",
                "contact_preference": "phone",
                "phone": "573-555-0142",
                "zip_code": "63857",
                "topic_id": "",
                "language": "en",
                "message": f"Call number {number} about home visits.",
                "consent": "y",
                "assign_to": "",
            },
        )

    return send


def _public_post(app, number: int):
    client = app.test_client()
    token = TOKEN_RE.search(client.get("/get-in-touch").get_data(as_text=True)).group(1)

    def send():
        return client.post(
            "/get-in-touch",
            data={
                "name": f"Visitor {number}",
                "email": f"visitor{number}@example.org",
                "zip_code": "63857",
                "topic": str(app.config["DEMO_TOPIC_ID"]),
                "language": "en",
                "message": f"Message number {number}: what support is there near Kennett?",
                "consent": "y",
                "website": "",
                "rendered": token,
            },
        )

    return send


def test_the_database_runs_in_wal_mode_with_a_busy_timeout(file_app):
    with file_app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000


def test_simultaneous_writers_all_succeed(file_app):
    senders = [_staff_post(file_app, n) for n in range(STAFF_WRITERS)]
    senders += [_public_post(file_app, n) for n in range(PUBLIC_WRITERS)]
    start = threading.Barrier(len(senders))
    statuses: list[int] = []
    errors: list[BaseException] = []

    def run(send):
        try:
            start.wait()
            statuses.append(send().status_code)
        except BaseException as error:  # noqa: BLE001  (reported by the assertion below)
            errors.append(error)

    threads = [threading.Thread(target=run, args=(send,)) for send in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert sorted(statuses) == [302] * len(senders)
    with file_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Inquiry)) == len(senders)
