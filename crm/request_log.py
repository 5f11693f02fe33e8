"""Request logs without query strings.

Search terms (a family's name or email typed into the inbox search) travel in query strings,
and the development server logs every request line whole through the `werkzeug` logger. The
filter below cuts the query string out of each URL in those log lines, and the secret token out
of a calendar feed's address. In production the
access log is gunicorn's, whose format the README gives without the query string.
"""

from __future__ import annotations

import logging
import re

# A path followed by a query string, up to the next space or quote, or the colour code the
# development server wraps a request line in: "GET /inquiries/?q=Kowalczyk HTTP/1.1".
QUERY_STRING = re.compile(r"(/[^\s?\"'\x1b]*)\?[^\s\"'\x1b]*")


# A calendar feed's address is its key (crm.calendar): the token in its path is left out too.
CALENDAR_TOKEN = re.compile(r"(/calendar/)[^/\s?\"'\x1b]+(\.ics)")


def without_query_strings(text: str) -> str:
    return CALENDAR_TOKEN.sub(r"\1(token)\2", QUERY_STRING.sub(r"\1", text))


class DropQueryStrings(logging.Filter):
    """Rewrites a log record's message with every URL's query string left out."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = without_query_strings(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install() -> None:
    """Install the filter on the development server's request log, once per process (the
    logger is the process's, whichever app is being served)."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(existing, DropQueryStrings) for existing in logger.filters):
        logger.addFilter(DropQueryStrings())
