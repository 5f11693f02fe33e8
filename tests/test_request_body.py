"""MAX_CONTENT_LENGTH holds for chunked bodies too, over real HTTP, on the development server
(Werkzeug) and on gunicorn as the README runs it.

A chunked body announces no length. Werkzeug used to read it only up to the limit and parse
what it had, so a 10 MiB post was cut to 256 KiB, taken as a form, and echoed back in the page.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from config import Config, TestConfig
from crm import create_app
from crm.demo import seed_demo
from crm.extensions import db
from crm.request_body import DRAIN_LIMIT
from tests.gunicorn_server import Gunicorn
from tests.live_server import LiveServer
from tests.public_support import TOKEN_RE

DEMO_PASSWORD = "demo password for tests"
LIMIT = Config.MAX_CONTENT_LENGTH
FILLER = b"Z"
ECHO = FILLER * 64
TOPIC_RE = re.compile(r'<select[^>]*name="topic"[^>]*>.*?<option[^>]*value="(\d+)"', re.S)
TOO_MUCH = b"That was too much to send at once"


@pytest.fixture(scope="module")
def werkzeug_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The development server in a thread, serving an app on a database of its own."""
    folder: Path = tmp_path_factory.mktemp("werkzeug")
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder / 'crm.sqlite'}",
        PUBLIC_FORM_MIN_SECONDS=0,
        PUBLIC_FORM_RATE_LIMIT="10000 per minute",
        PUBLIC_FORM_REFUSED_RATE_LIMIT="10000 per minute",
    )
    with app.app_context():
        db.create_all()
        seed_demo(DEMO_PASSWORD)
        db.session.remove()
    with LiveServer(app) as server:
        yield server.host, int(server.url.rsplit(":", 1)[1])
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(params=["werkzeug", "gunicorn"])
def server(request: pytest.FixtureRequest) -> tuple[str, int]:
    if request.param == "werkzeug":
        return request.getfixturevalue("werkzeug_server")
    gunicorn: Gunicorn = request.getfixturevalue("readme_gunicorn")
    return gunicorn.host, gunicorn.port


def chunked_post(server: tuple[str, int], path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """POST a urlencoded body with Transfer-Encoding: chunked, as a client that sends it all
    before it reads the answer; the answer is read even if the server stopped reading first."""
    connection = http.client.HTTPConnection(*server, timeout=120)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        try:
            for start in range(0, len(body), 64 * 1024):
                piece = body[start : start + 64 * 1024]
                connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            connection.send(b"0\r\n\r\n")
        except OSError:
            pass
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def get_page(server: tuple[str, int], path: str) -> str:
    connection = http.client.HTTPConnection(*server, timeout=60)
    try:
        connection.request("GET", path)
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def padded(fields: dict[str, str], pad_field: str, size: int) -> bytes:
    """The fields urlencoded, `pad_field` filled so that the whole body is `size` bytes long."""
    start = urlencode({**fields, pad_field: ""}).encode()
    return start + FILLER * (size - len(start))


@pytest.mark.parametrize("size", [1024 * 1024, 10 * 1024 * 1024], ids=["1 MiB", "10 MiB"])
@pytest.mark.parametrize(("path", "field"), [("/get-in-touch", "message"), ("/login", "email")])
def test_an_oversized_chunked_body_gets_a_413_and_is_not_echoed(server, path: str, field: str, size: int) -> None:
    assert size < DRAIN_LIMIT  # read to its end, so the client sees the answer

    status, _headers, page = chunked_post(server, path, padded({"name": "Ana", "zip_code": "63857"}, field, size))

    assert status == 413
    assert TOO_MUCH in page
    assert ECHO not in page


@pytest.mark.parametrize(("size", "status"), [(LIMIT, 401), (LIMIT + 1, 413)], ids=["at the limit", "one byte over"])
def test_the_limit_is_exact_for_a_chunked_body(server, size: int, status: int) -> None:
    answer, _headers, page = chunked_post(server, "/login", padded({"email": "nobody@example.org"}, "password", size))

    assert answer == status
    assert ECHO not in page


def test_a_chunked_send_of_the_form_still_goes_through(server) -> None:
    form = get_page(server, "/get-in-touch")
    fields = {
        "name": "Jamie Rivera",
        "email": "jamie.rivera@example.org",
        "zip_code": "63857",
        "topic": TOPIC_RE.search(form).group(1),
        "language": "en",
        "message": "We are expecting our first baby and would like to know what support there is nearby.",
        "consent": "y",
        "website": "",
        "rendered": TOKEN_RE.search(form).group(1),
    }

    status, headers, _page = chunked_post(server, "/get-in-touch", urlencode(fields).encode())

    assert status == 302
    assert headers["Location"] == "/get-in-touch/thank-you"


def test_a_chunked_sign_in_still_works(server) -> None:
    body = urlencode({"email": "staff@example.org", "password": DEMO_PASSWORD}).encode()

    status, headers, _page = chunked_post(server, "/login", body)

    assert status == 302
    assert headers["Location"] == "/dashboard"


def test_a_refused_chunked_form_is_shown_again_whole(server) -> None:
    """Under the limit the whole body is read: a refused form comes back with all of its text."""
    message = "Q" * (LIMIT - 1024)
    status, _headers, page = chunked_post(server, "/get-in-touch", urlencode({"message": message}).encode())

    assert status == 422
    assert message.encode() in page
