"""What a log may say about a failure: where it happened and what kind it was, never the
values it was about.

A family's name, email, phone and message must not reach a log at any level, and exception
messages can carry them: a database driver quotes rows and keys (PostgreSQL's "Failing row
contains (...)", "Key (email)=(...) already exists", 'invalid input syntax ...: "..."'), and
Python quotes values ("invalid literal for int() with base 10: '...'"). So a failure is
logged as its traceback's frames and, for each exception in the chain, its type and what
identifies a database error (SQLSTATE or SQLite's error name, constraint, table, the
statement with its parameters hidden), but not its message. The one message kept is the
client library's own about a lost connection, which is about the network, not about data.

SQLAlchemy is kept quiet too: `hide_parameters` (config.py, and create_app for any other
engine options) takes the bound values out of its errors and its echo, and
`hide_result_rows` drops the result rows it logs at DEBUG.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from sqlalchemy.exc import DBAPIError, StatementError

# SQLAlchemy logs each fetched row with this message when its engine logger is at DEBUG.
SQLALCHEMY_ROW_MESSAGE = "Row %r"
SQLALCHEMY_ENGINE_LOGGER = "sqlalchemy.engine.Engine"
MAX_STATEMENT_LENGTH = 500


def _type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _one_line(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _driver_details(error: BaseException) -> list[str]:
    """What names a driver's error without quoting data: SQLSTATE (psycopg) or the SQLite
    error name, and the constraint, table and column PostgreSQL reports."""
    details = []
    code = getattr(error, "sqlstate", None) or getattr(error, "sqlite_errorname", None)
    if code:
        details.append(f"code {code}")
    diagnostics = getattr(error, "diag", None)
    for label in ("constraint_name", "table_name", "column_name"):
        value = getattr(diagnostics, label, None)
        if value:
            details.append(f"{label.removesuffix('_name')} {value}")
    return details


def describe(error: BaseException) -> str:
    """One line for a log: the exception's type and what identifies it, never its message."""
    details: list[str] = []
    if isinstance(error, StatementError):
        original = error.orig
        codes = _driver_details(original) if original is not None else []
        if original is not None:
            details += [f"from {_type_name(original)}", *codes]
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            # A message from the client library (no SQLSTATE) is about the network, not data.
            details.append("connection lost" if codes else f"connection lost: {_one_line(str(original), 200)}")
        if error.statement:
            details.append(f"SQL: {_one_line(error.statement, MAX_STATEMENT_LENGTH)}")
    else:
        details += _driver_details(error)
    return f"{_type_name(error)} ({'; '.join(details)})" if details else _type_name(error)


def _chain(error: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or while handling, oldest first."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain[::-1]


def traceback_text(error: BaseException) -> str:
    """The traceback Python would print, each exception described by `describe` instead of
    its message. Frames show file, line, function and source line, which are code, not data."""
    parts: list[str] = []
    chain = _chain(error)
    for position, current in enumerate(chain):
        if position:
            direct = chain[position].__cause__ is chain[position - 1]
            parts.append(
                "\nThe above exception was the direct cause of the following exception:\n\n"
                if direct
                else "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
        if current.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts += traceback.format_tb(current.__traceback__)
        parts.append(describe(current) + "\n")
    return "".join(parts).rstrip("\n")


def log_failure(logger: logging.Logger, message: str, *args: Any, error: BaseException, level: int = logging.ERROR) -> None:
    """logger.exception(message, *args), with the traceback told by `traceback_text`."""
    logger.log(level, message + "\n%s", *args, traceback_text(error))


# Anything shaped like an email address, with or without the angle brackets a reply puts it in.
ADDRESS_RE = re.compile(r"<?[^\s<>@\"'(),;:]+@[^\s<>@\"'(),;:]+>?")


def mask_addresses(text: str) -> str:
    """The text with every email address replaced, for a log line that quotes a mail server."""
    return ADDRESS_RE.sub("<address>", text)


class HideResultRows(logging.Filter):
    """Drops the rows SQLAlchemy logs at DEBUG: an inquiry's row is the family's words."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.endswith(SQLALCHEMY_ROW_MESSAGE))


def hide_result_rows() -> None:
    """Install HideResultRows on SQLAlchemy's engine logger, once per process."""
    engine_logger = logging.getLogger(SQLALCHEMY_ENGINE_LOGGER)
    if not any(isinstance(existing, HideResultRows) for existing in engine_logger.filters):
        engine_logger.addFilter(HideResultRows())
