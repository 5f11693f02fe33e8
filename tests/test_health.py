"""`/healthz`, the load balancer's health check: 200 while the database answers, 503 when it
cannot be reached; no sign-in, no cookie, nothing cached, nothing about the server."""

from __future__ import annotations

import logging

import pytest

from config import TestConfig
from crm import create_app
from crm.health import HEALTH_CHECK_PATH
from crm.request_log import DropHealthChecks
from tests.gunicorn_server import free_port


def test_answers_200_while_the_database_answers(client) -> None:
    response = client.get(HEALTH_CHECK_PATH)

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_answers_503_when_the_database_cannot_be_reached(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens on this port: every connection is refused at once.
    unreachable = f"postgresql+psycopg://backbone@127.0.0.1:{free_port()}/backbone?connect_timeout=2"
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=unreachable)

    with caplog.at_level(logging.WARNING):
        response = app.test_client().get(HEALTH_CHECK_PATH)

    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "unreachable"}
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert "127.0.0.1" not in body
    assert "backbone" not in body
    assert any("Health check" in record.getMessage() for record in caplog.records)


def _record(message: str, args) -> logging.LogRecord:
    return logging.LogRecord("x", logging.INFO, __file__, 1, message, args, None)


@pytest.mark.parametrize(
    ("message", "args", "kept"),
    [
        ('127.0.0.1 - - [x] "%s %s HTTP/1.1" %s -', ("GET", "/healthz", 200), False),
        ('127.0.0.1 - - [x] "%s %s HTTP/1.1" %s -', ("GET", "/healthz", 503), True),
        ('127.0.0.1 - - [x] "%s %s HTTP/1.1" %s -', ("GET", "/inquiries/", 200), True),
        ("%(h)s %(U)s %(s)s", {"h": "10.0.0.2", "U": "/healthz", "s": "200"}, False),
        ("%(h)s %(U)s %(s)s", {"h": "10.0.0.2", "U": "/healthz", "s": "503"}, True),
        ("%(h)s %(U)s %(s)s", {"h": "10.0.0.2", "U": "/get-in-touch", "s": "200"}, True),
    ],
    ids=["werkzeug ok", "werkzeug 503", "werkzeug other", "gunicorn ok", "gunicorn 503", "gunicorn other"],
)
def test_request_logs_leave_out_successful_checks_only(message: str, args, kept: bool) -> None:
    assert DropHealthChecks().filter(_record(message, args)) is kept
