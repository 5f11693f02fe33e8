"""Two sends of the same words at once (a double click on the Get in Touch form) are stored once.

The duplicate check is part of each INSERT (crm.inquiries.intake.insert_unless_taken), which
cannot see a row another transaction has not committed yet; on PostgreSQL an advisory lock on
the send's dedupe key (intake.wait_for_the_same_words) makes the second send wait for the first.
SQLite lets one transaction write at a time, so these run on PostgreSQL only: each starts two
sends in threads, lets the first insert and wait before its commit, and counts what was stored.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from crm.database import utcnow
from crm.extensions import db
from crm.inquiries import intake
from crm.models import ContactPreference, HeldPost, Inquiry
from crm.public import services

# How long the first send waits between its INSERT and its commit: the second is at its own
# INSERT by then.
FIRST_SEND_HOLDS_SECONDS = 1.0


def _fields() -> services.PostedFields:
    # Words of this test's own: the lock is the database's, shared with any test running alongside.
    return services.PostedFields(
        name="Jamie Rivera",
        email=f"jamie.{secrets.token_hex(4)}@example.org",
        phone="",
        contact_preference=ContactPreference.EMAIL,
        zip_code="63857",
        topic_id=None,
        language="en",
        message="We are expecting and need help near us.",
    )


def _both_start_then_the_first_holds(started: Callable, inserted: Callable) -> tuple[Callable, Callable]:
    """``started`` and ``inserted`` wrapped: both sends wait for each other at the start, and the
    first to insert waits FIRST_SEND_HOLDS_SECONDS before going on to its commit."""
    both_started = threading.Barrier(2, timeout=20)
    first = threading.Lock()

    def start(*args, **kwargs):
        both_started.wait()
        return started(*args, **kwargs)

    def insert(*args, **kwargs):
        result = inserted(*args, **kwargs)
        if first.acquire(blocking=False):
            time.sleep(FIRST_SEND_HOLDS_SECONDS)
        return result

    return start, insert


def _send_twice_at_once(app: Flask, send: Callable[[], services.Confirmation]) -> list[str]:
    """The references the two sends were thanked with (or their errors)."""
    answers: list[str] = []

    def one() -> None:
        with app.test_request_context():
            try:
                answers.append(send().reference)
            except Exception as error:  # noqa: BLE001  (reported by the caller's assertion)
                answers.append(repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def _stored(app: Flask, model, email: str) -> int:
    with app.app_context():
        try:
            return db.session.scalar(select(func.count()).select_from(model).where(model.email == email))
        finally:
            db.session.remove()


@pytest.mark.parametrize(
    ("module", "started", "inserted", "send", "model"),
    [
        # Routed at once: both route, then the first inserts its inquiry and holds its commit.
        pytest.param(intake, "rules_outcome", "_insert_new", services.Sending.admit, Inquiry, id="routed"),
        # Held (a flood, or a bot): both work out their key, then the first inserts its held row.
        pytest.param(services, "dedupe_key", "insert_unless_in_use", services.Sending.hold, HeldPost, id="held"),
    ],
)
def test_two_sends_of_the_same_words_at_once_are_stored_once(
    demo_racing_app, monkeypatch, module, started: str, inserted: str, send: Callable, model
):
    start, insert = _both_start_then_the_first_holds(getattr(module, started), getattr(module, inserted))
    monkeypatch.setattr(module, started, start)
    monkeypatch.setattr(module, inserted, insert)
    fields = _fields()

    answers = _send_twice_at_once(demo_racing_app, lambda: send(services.Sending(now=utcnow()), fields))

    assert _stored(demo_racing_app, model, fields["email"]) == 1, answers
    # Both thanked, with the one reference stored: the second as a repeat of the first.
    assert len(answers) == 2
    assert answers[0] == answers[1], answers
