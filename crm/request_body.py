"""The request body size limit (MAX_CONTENT_LENGTH), whichever way the body is sent.

A body with a Content-Length header is measured by Werkzeug before it is read. A chunked body
(Transfer-Encoding: chunked) announces no length, and Werkzeug 3 only wraps it in a stream
that stops at the limit: reading the form takes the first MAX_CONTENT_LENGTH bytes and
quietly drops the rest, so an oversized post was parsed, cut short, and (on the Get in Touch
form) shown back to its sender. The middleware below reads such a body itself, up to one byte
past the limit, and hands the app either the whole body with its real length or, when it is
too long, a length over the limit, which every route then answers with a 413.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask, abort, current_app, request
from werkzeug.http import parse_set_header

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

View = TypeVar("View", bound=Callable[..., Any])
READ_STEP = 64 * 1024
# An oversized body is still read to its end (and thrown away) up to this many bytes, so that
# the client, which is usually still sending, sees the 413 page rather than a reset connection.
# Past it the connection is closed on the sender; a reverse proxy should refuse such bodies first.
DRAIN_LIMIT = 16 * 1024 * 1024


class _UnreadableBody(io.RawIOBase):
    """Stands in for a body whose reading failed, so that the app meets the same error,
    which Werkzeug reports as a client disconnect (400)."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def readable(self) -> bool:
        return True

    def readinto(self, _buffer: Any) -> int:
        raise self._error


def is_chunked(environ: WSGIEnvironment) -> bool:
    """A chunked body that the server de-chunks and ends for us (wsgi.input_terminated)."""
    return "wsgi.input_terminated" in environ and "chunked" in parse_set_header(
        environ.get("HTTP_TRANSFER_ENCODING")
    )


def read_at_most(stream: Any, size: int) -> bytes:
    """Up to `size` bytes of the stream, fewer only where the stream ends."""
    parts = []
    remaining = size
    while remaining > 0:
        part = stream.read(min(READ_STEP, remaining))
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def discard(stream: Any, size: int) -> None:
    """Read and drop up to `size` bytes of the stream."""
    remaining = size
    while remaining > 0:
        part = stream.read(min(READ_STEP, remaining))
        if not part:
            return
        remaining -= len(part)


class ChunkedBodyLimit:
    """WSGI middleware: a chunked body is measured against the app's MAX_CONTENT_LENGTH.

    Within the limit, the app gets the body as if it had come with a Content-Length. Over it,
    the app gets no body and a Content-Length of limit + 1, which refuse_oversized_body turns
    into a 413 before any view, rate limit or CSRF check reads the form.
    """

    def __init__(self, wsgi_app: WSGIApplication, flask_app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.flask_app = flask_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        limit = self.flask_app.config.get("MAX_CONTENT_LENGTH")
        if limit is not None and is_chunked(environ):
            self._measure(environ, limit)
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _measure(environ: WSGIEnvironment, limit: int) -> None:
        stream = environ["wsgi.input"]
        try:
            body = read_at_most(stream, limit + 1)
        except (OSError, ValueError) as error:
            environ["wsgi.input"] = _UnreadableBody(error)
            return
        # From here on the body is an ordinary one of known length: Werkzeug reads a
        # Content-Length only where no chunked Transfer-Encoding is announced.
        del environ["HTTP_TRANSFER_ENCODING"]
        if len(body) > limit:
            with contextlib.suppress(OSError, ValueError):  # a sender that gave up is answered all the same
                discard(stream, DRAIN_LIMIT)
            environ["wsgi.input"] = io.BytesIO()
            environ["CONTENT_LENGTH"] = str(limit + 1)
        else:
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))


def allows_larger_body(config_key: str) -> Callable[[View], View]:
    """Decorator: this view (a file upload) takes bodies up to app.config[config_key] rather
    than MAX_CONTENT_LENGTH. Only bodies sent with a Content-Length, as browsers send files:
    a chunked body is measured against MAX_CONTENT_LENGTH before the view is known."""

    def mark(view: View) -> View:
        view.body_limit_config = config_key  # type: ignore[attr-defined]
        return view

    return mark


def refuse_oversized_body() -> None:
    """A body over MAX_CONTENT_LENGTH (or the view's own limit, see allows_larger_body) gets a
    413 on every route, whether or not the view would have read it, and before anything (a
    rate limit's key, the CSRF check) reads it."""
    view = current_app.view_functions.get(request.endpoint or "")
    config_key = getattr(view, "body_limit_config", None)
    if config_key is not None:
        request.max_content_length = current_app.config[config_key]
    limit = request.max_content_length
    if limit is not None and request.content_length is not None and request.content_length > limit:
        abort(413)


def init_app(app: Flask) -> None:
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, app)  # type: ignore[method-assign]
    # Ahead of every other before-request hook: any registered later is appended after it.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_oversized_body)
