"""crm.logs: a failure is logged by its type and place, never by the values in its message."""

from __future__ import annotations

import logging
import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from crm.logs import HideResultRows, describe, mask_addresses, traceback_text

SECRET = "Quillon Vexmarsh, quillon@example.org, (573) 555-0187"


def raised_by(function) -> BaseException:
    try:
        function()
    except BaseException as error:  # noqa: BLE001
        return error
    raise AssertionError("nothing raised")


def sqlite_error(message: str) -> sqlite3.Error:
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute(message)
    except sqlite3.Error as error:
        return error
    raise AssertionError("no error")


@pytest.mark.parametrize(
    ("error", "shown", "hidden"),
    [
        (ValueError(f"invalid literal for int() with base 10: {SECRET!r}"), ["ValueError"], [SECRET]),
        (KeyError(SECRET), ["KeyError"], [SECRET]),
        (
            IntegrityError(
                "INSERT INTO inquiries (name) VALUES (?)", None, Exception(f"Failing row contains ({SECRET})")
            ),
            ["sqlalchemy.exc.IntegrityError", "from Exception", "SQL: INSERT INTO inquiries (name) VALUES (?)"],
            [SECRET, "Failing row"],
        ),
        (
            OperationalError(
                "SELECT 1", None, psycopg.errors.AdminShutdown("terminating connection"), connection_invalidated=True
            ),
            ["from psycopg.errors.AdminShutdown", "code 57P01", "connection lost"],
            ["terminating connection"],
        ),
        (
            OperationalError(
                "SELECT 1",
                None,
                psycopg.OperationalError("server closed the connection unexpectedly"),
                connection_invalidated=True,
            ),
            ["connection lost: server closed the connection unexpectedly"],
            [],
        ),
        (
            StatementError("naive datetimes are not stored", "INSERT INTO t VALUES (?)", None, ValueError(SECRET)),
            ["sqlalchemy.exc.StatementError", "from ValueError", "SQL: INSERT INTO t VALUES (?)"],
            [SECRET, "naive"],
        ),
        (
            sqlite_error("SELECT * FROM no_such_table"),
            ["sqlite3.OperationalError", "code SQLITE_ERROR"],
            ["no_such_table"],
        ),
    ],
)
def test_describe_names_the_error_and_leaves_its_message_out(error, shown, hidden):
    text = describe(error)
    for part in shown:
        assert part in text
    for part in hidden:
        assert part not in text


def test_a_traceback_keeps_frames_and_chain_but_no_message():
    def innermost():
        raise ValueError(SECRET)

    def outer():
        try:
            innermost()
        except ValueError as error:
            raise IntegrityError("INSERT INTO inquiries (name) VALUES (?)", None, error) from error

    text = traceback_text(raised_by(outer))

    assert "in innermost" in text
    assert "in outer" in text
    assert "raise ValueError(SECRET)" in text  # source lines are code
    assert "The above exception was the direct cause of the following exception:" in text
    assert text.rstrip().endswith("SQL: INSERT INTO inquiries (name) VALUES (?))")
    assert "Vexmarsh" not in text


def test_an_error_raised_while_handling_another_is_told_as_python_would():
    def handling():
        try:
            raise KeyError(SECRET)
        except KeyError:
            raise RuntimeError(SECRET)  # noqa: B904  (the implicit chain is what is told here)

    text = traceback_text(raised_by(handling))
    assert "During handling of the above exception, another exception occurred:" in text
    assert "KeyError" in text
    assert "Vexmarsh" not in text


@pytest.mark.parametrize(
    ("reply", "masked"),
    [
        (
            "550 5.1.1 <Quillon.Vexmarsh@example.org>: Recipient address rejected",
            "550 5.1.1 <address>: Recipient address rejected",
        ),
        ("550 5.1.10 Recipient q+x@mail.example.org not found", "550 5.1.10 Recipient <address> not found"),
        ("ConnectionRefusedError: Connection refused", "ConnectionRefusedError: Connection refused"),
    ],
)
def test_addresses_in_a_mail_servers_reply_are_masked(reply, masked):
    assert mask_addresses(reply) == masked


def test_sqlalchemy_result_rows_are_dropped_and_the_rest_kept():
    def record(message: str, *args) -> logging.LogRecord:
        return logging.LogRecord("sqlalchemy.engine.Engine", logging.DEBUG, __file__, 1, message, args, None)

    rows = HideResultRows()
    assert not rows.filter(record("Row %r", (SECRET,)))
    assert not rows.filter(record("[some token] Row %r", (SECRET,)))
    assert rows.filter(record("Col %r", ("name",)))
    assert rows.filter(record("SELECT inquiries.name FROM inquiries"))
