"""The statements a piece of code sends, and the plan the database makes for one: for tests
that hold a query to the index meant to serve it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.sql.elements import SavepointClause

from crm.extensions import db


@contextmanager
def statements_run() -> Iterator[list[tuple[str, Any]]]:
    """Every statement sent while the block runs, with its parameters."""
    ran: list[tuple[str, Any]] = []

    def on_execute(_connection, _cursor, statement, parameters, *_args) -> None:
        ran.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        yield ran
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)


@contextmanager
def statement_objects_run() -> Iterator[list[Any]]:
    """Every statement object executed while the block runs (the clause itself, before it is
    compiled), but for the savepoints of the tests' own isolation: for tests that hold code to
    reusing the statements it builds once."""
    ran: list[Any] = []

    def on_execute(_connection, clause, *_args) -> None:
        if not isinstance(clause, SavepointClause):
            ran.append(clause)

    event.listen(db.engine, "before_execute", on_execute)
    try:
        yield ran
    finally:
        event.remove(db.engine, "before_execute", on_execute)


def plan(statement: str, parameters: Any) -> str:
    """The plan of one statement as text: EXPLAIN on PostgreSQL, EXPLAIN QUERY PLAN on SQLite."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        # Whatever a tiny test table makes cheapest, the question is whether the index serves the query.
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
    else:
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)
