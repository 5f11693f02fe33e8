"""The statements a piece of code sends, and the plan the database makes for one: for tests
that hold a query to the index meant to serve it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

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
