"""A lost database connection (a restart, a failover, a killed backend): which errors mean
it, and running a unit of work once more on a fresh connection.

SQLAlchemy marks an error that lost its connection with `connection_invalidated` and
invalidates the pool, so the next checkout connects afresh (pool_pre_ping checks the rest).
A connection that cannot be made at all is marked the same way here, so that "lost" covers
a database that is down as well as one that went away mid-request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, request
from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.exc import DBAPIError

from crm import logs
from crm.extensions import db

Result = TypeVar("Result")


def connection_lost(error: BaseException) -> bool:
    return isinstance(error, DBAPIError) and error.connection_invalidated


def count_failed_connections_as_lost(engine: Engine) -> None:
    """A connection refused or timed out is, to a request, the same as one lost: SQLAlchemy
    only calls it a disconnect when an open connection breaks."""
    operational_error = engine.dialect.loaded_dbapi.OperationalError

    @event.listens_for(engine, "handle_error")
    def _could_not_connect(context: ExceptionContext) -> None:
        if context.connection is None and not context.is_pre_ping and isinstance(context.original_exception, operational_error):
            context.is_disconnect = True


def _despite_lost_connection(end: Callable[[], None]) -> None:
    """Roll back or close the session even if its connection died since its last statement:
    SQLAlchemy raises once as it invalidates that connection, and the second call, with no
    connection left to talk to, just ends the transaction."""
    try:
        end()
    except DBAPIError as error:
        if not connection_lost(error):
            raise
        end()


def roll_back() -> None:
    """db.session.rollback() for error handlers: a connection lost since the last statement
    must not turn a friendly error page into a bare 500."""
    _despite_lost_connection(db.session.rollback)


def end_session(_error: BaseException | None = None) -> None:
    """Close the session at the end of a request (a teardown) or of a worker's run; a
    connection killed after the response was made is no reason to fail it."""
    _despite_lost_connection(db.session.close)


def retry_once_if_connection_lost(work: Callable[[], Result]) -> Result:
    """Run `work`; if it loses the database connection, roll back and run it once more.

    Rolling back discards what the first attempt wrote, unless the connection was lost
    during its COMMIT: then whether that commit went through is unknown, so work that
    commits must first look for what a first attempt may have stored (as
    crm.public.services.Sending does). A second loss is raised: the database is out of reach.
    """
    try:
        return work()
    except DBAPIError as error:
        if not connection_lost(error):
            raise
        roll_back()
        current_app.logger.warning(
            "Lost the database connection on %s [%s], trying once more: %s", request.path, request.method, logs.describe(error)
        )
    return work()
