"""Request logs without query strings.

Search terms (a family's name or email typed into the inbox search) travel in query strings,
and the development server logs every request line whole through the `werkzeug` logger. The
filter below cuts the query string out of each URL in those log lines, and the secret token out
of a calendar feed's address. In production the access log is gunicorn's, whose format the
README gives without the query string; a filter on it writes the calendar feed's token as
"(token)" in every value a line can show (path, request line, referer, headers), whatever the
access log format picks.

Both logs also leave out the load balancer's successful health checks (crm.health).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, MutableMapping

from crm.health import HEALTH_CHECK_PATH

# A path followed by a query string, up to the next space or quote, or the colour code the
# development server wraps a request line in: "GET /inquiries/?q=Kowalczyk HTTP/1.1".
QUERY_STRING = re.compile(r"(/[^\s?\"'\x1b]*)\?[^\s\"'\x1b]*")


# A calendar feed's address is its key (crm.calendar): the token in its path is left out too.
CALENDAR_TOKEN = re.compile(r"(/calendar/)[^/\s?\"'\x1b]+(\.ics)")


def without_calendar_tokens(text: str) -> str:
    """The text with each calendar feed token written as "(token)": /calendar/(token).ics."""
    return CALENDAR_TOKEN.sub(r"\1(token)\2", text)


def without_query_strings(text: str) -> str:
    return without_calendar_tokens(QUERY_STRING.sub(r"\1", text))


class DropQueryStrings(logging.Filter):
    """Rewrites a log record's message with every URL's query string left out."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = without_query_strings(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class HideCalendarTokens(logging.Filter):
    """gunicorn's access log: its record's arguments are the line's values by name (the path
    "U", the request line "r", the referer "f", headers and environ values); each that names a
    calendar feed has the token written as "(token)" before the line is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if isinstance(atoms, MutableMapping):
            for key, value in list(atoms.items()):
                if isinstance(value, str) and "/calendar/" in value:
                    atoms[key] = without_calendar_tokens(value)
        else:
            message = record.getMessage()
            cleaned = without_calendar_tokens(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


# A successful health check as the development server logs it.
HEALTH_CHECK_LINE = re.compile(r'"(?:GET|HEAD) ' + re.escape(HEALTH_CHECK_PATH) + r' HTTP/[\d.]+" 200 ')


class DropHealthChecks(logging.Filter):
    """A load balancer asks for /healthz every few seconds: its successful answers would bury
    the requests worth reading. A failed check (503) is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if isinstance(atoms, Mapping) and "U" in atoms:  # gunicorn's access log: its atoms by name
            return not (atoms["U"] == HEALTH_CHECK_PATH and str(atoms.get("s")) == "200")
        return not HEALTH_CHECK_LINE.search(record.getMessage())


def _add_once(logger: logging.Logger, kind: type[logging.Filter]) -> None:
    if not any(isinstance(existing, kind) for existing in logger.filters):
        logger.addFilter(kind())


def install() -> None:
    """Install the filters on the request logs, once per process (a logger is the process's,
    whichever app is being served): the development server's (werkzeug) and gunicorn's access
    log, which the app's workers write."""
    werkzeug = logging.getLogger("werkzeug")
    _add_once(werkzeug, DropQueryStrings)
    _add_once(werkzeug, DropHealthChecks)
    gunicorn_access = logging.getLogger("gunicorn.access")
    _add_once(gunicorn_access, DropHealthChecks)
    _add_once(gunicorn_access, HideCalendarTokens)
