"""Search terms (a family's name, an email) travel in query strings; request logs keep none.

gunicorn runs with the command the README gives for production, read from README.md, so the
documentation and this test cannot drift apart; the development server's request log goes
through crm.request_log's filter.
"""

from __future__ import annotations

import http.client
import logging
import re

import pytest

from config import TestConfig
from crm import create_app
from crm.request_log import without_query_strings
from tests.gunicorn_server import Gunicorn
from tests.live_server import LiveServer

SEARCH = "/inquiries/?q=Kowalczyk&status="
TERM = "Kowalczyk"


def get(host: str, port: int, target: str) -> int:
    connection = http.client.HTTPConnection(host, port, timeout=60)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_the_readme_command_keeps_the_access_log_but_not_the_query_string(readme_gunicorn: Gunicorn) -> None:
    status = get(readme_gunicorn.host, readme_gunicorn.port, SEARCH)
    output = readme_gunicorn.output_once_it_shows('"GET /inquiries/')

    assert status == 302  # to the sign-in page
    requests = [line for line in output.splitlines() if '"GET /inquiries/ HTTP/1.1" 302 ' in line]
    assert len(requests) == 1, output  # the request is logged, with its path and status
    assert re.search(r'"GET /inquiries/ HTTP/1\.1" 302 \d+ \d+ms$', requests[0]), requests[0]  # size, duration
    assert TERM not in output
    assert "q=" not in output


@pytest.mark.parametrize(
    ("logged", "kept"),
    [
        ('"GET /inquiries/?q=Kowalczyk&status= HTTP/1.1" 200 -', '"GET /inquiries/ HTTP/1.1" 200 -'),
        ('"\x1b[33mGET /inquiries/export?q=a%40b.org HTTP/1.1\x1b[0m" 405 -', '"\x1b[33mGET /inquiries/export HTTP/1.1\x1b[0m" 405 -'),
        ("code 400, message Bad request syntax ('GET /?q=Kowalczyk HTTP/1.1')", "code 400, message Bad request syntax ('GET / HTTP/1.1')"),
        ('"GET /login?next=%2Finquiries%2F%3Fq%3DKowalczyk HTTP/1.1" 200 -', '"GET /login HTTP/1.1" 200 -'),
        ('"GET /inquiries/ HTTP/1.1" 200 -', '"GET /inquiries/ HTTP/1.1" 200 -'),
        (" * Running on http://127.0.0.1:5000", " * Running on http://127.0.0.1:5000"),
    ],
    ids=["search", "coloured", "bad request line", "next", "no query", "other message"],
)
def test_query_strings_are_cut_from_log_lines(logged: str, kept: str) -> None:
    assert without_query_strings(logged) == kept


def test_the_development_servers_request_log_has_no_query_string(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")

    with caplog.at_level(logging.INFO, logger="werkzeug"), LiveServer(app) as server:
        status = get(server.host, int(server.url.rsplit(":", 1)[1]), SEARCH)

    assert status == 302
    logged = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert any("GET /inquiries/ HTTP/1.1" in line and " 302 " in line for line in logged), logged
    assert not any(TERM in line or "q=" in line for line in logged), logged


def test_the_readme_command_leaves_successful_health_checks_out(readme_gunicorn: Gunicorn) -> None:
    assert get(readme_gunicorn.host, readme_gunicorn.port, "/healthz") == 200
    get(readme_gunicorn.host, readme_gunicorn.port, "/after-the-health-check")  # a 404, logged
    output = readme_gunicorn.output_once_it_shows("/after-the-health-check")

    assert "/after-the-health-check" in output
    assert "/healthz" not in output


FEED_TOKEN = "Zq3vYk1Xw9-ab_CDefGhIjKlMnOpQrStUvWxYz01234"


def test_the_readme_command_logs_a_calendar_feed_without_its_token(readme_gunicorn: Gunicorn) -> None:
    """The feed's address is its key: gunicorn's access log writes the path as /calendar/(token).ics."""
    assert get(readme_gunicorn.host, readme_gunicorn.port, f"/calendar/{FEED_TOKEN}.ics") == 404
    output = readme_gunicorn.output_once_it_shows('"GET /calendar/')

    assert '"GET /calendar/(token).ics HTTP/1.1" 404 ' in output
    assert FEED_TOKEN not in output


def test_every_value_of_a_gunicorn_access_line_loses_the_feed_token() -> None:
    """Whatever --access-logformat picks: the request line, the path, the referer, environ values."""
    from gunicorn.glogging import SafeAtoms

    from crm.request_log import HideCalendarTokens

    path = f"/calendar/{FEED_TOKEN}.ics"
    atoms = SafeAtoms(
        {"r": f"GET {path}?x=1 HTTP/1.1", "U": path, "f": f"https://crm.example.org{path}", "{raw_uri}e": path, "s": "200", "B": 512}
    )
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(r)s %(U)s %(f)s %({raw_uri}e)s %(s)s %(B)s %(a)s', (atoms,), None)

    assert HideCalendarTokens().filter(record)

    assert record.getMessage() == (
        "GET /calendar/(token).ics?x=1 HTTP/1.1 /calendar/(token).ics https://crm.example.org/calendar/(token).ics "
        "/calendar/(token).ics 200 512 -"
    )
