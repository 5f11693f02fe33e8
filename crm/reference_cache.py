"""Reference data a public post reads every time, kept in the process for a short while.

Topics, counties and their regions, routing rules, which topics a contact handles and the
holiday calendars change a few times a year, yet every Get in Touch post needs them. Each
process keeps what it read, as plain frozen values, for ``REFERENCE_CACHE_SECONDS`` (30 by
default): an edit made through another process takes effect here within that time; one made
through this process takes effect at once, because a flush or a statement that changes any of
them empties the cache (``install``). Nothing here is a record another process must see:
what changes with every post (who is available, how many open inquiries each contact has,
who was assigned last) is always read from the database.

One cache per app (``app.extensions``), so two apps in one process (tests, the benchmark)
never share what they read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from itertools import chain
from typing import Any, Final, TypeVar

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

from crm.extensions import db

DEFAULT_SECONDS: Final = 30
EXTENSION: Final = "reference_cache"

# The tables whose rows the cache holds, for statements that change them without the ORM's
# unit of work (bulk UPDATE, DELETE, INSERT). `contacts` is not one: a contact's row is read
# afresh by every routing; only which topics they handle (contact_topics) is kept.
WATCHED_TABLES: Final = frozenset(
    {
        "topics",
        "counties",
        "regions",
        "region_counties",
        "routing_rules",
        "routing_rule_topics",
        "routing_rule_regions",
        "routing_rule_counties",
        "contact_topics",
        "organisations",
        "holidays",
        "holiday_calendars",
    }
)
# A contact changed in these attributes changes what is kept (their topics, a rule's label).
CONTACT_ATTRIBUTES: Final = ("topics", "name", "organisation_id")

T = TypeVar("T")


class ReferenceCache:
    """Named values, each loaded once and kept until it is older than the time allowed or
    the cache is emptied. Emptying bumps a generation: a value loaded while it was emptied
    (read before the change was made) is not kept."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[float, int, Any]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, name: str, load: Callable[[], T], max_age: float) -> T:
        entry = self._values.get(name)
        now = time.monotonic()
        if entry is not None and entry[1] == self._generation and now - entry[0] < max_age:
            return entry[2]
        generation = self._generation
        value = load()
        with self._lock:
            if generation == self._generation:
                self._values[name] = (now, generation, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._values.clear()


def cached(name: str, load: Callable[[], T]) -> T:
    """The value kept under ``name``, loaded by ``load`` when missing or too old.

    Changes still pending in the session are flushed first (unless the caller turned
    autoflush off), as a query would: a change made earlier in the same transaction is seen."""
    session = db.session()
    if session.autoflush and (session.new or session.deleted or session.dirty):
        session.flush()
    app = current_app._get_current_object()  # noqa: SLF001  (the app itself, for its extensions)
    seconds = float(app.config.get("REFERENCE_CACHE_SECONDS", DEFAULT_SECONDS))
    if seconds <= 0:
        return load()
    return _cache_of(app).get(name, load, seconds)


def forget() -> None:
    """Empty the current app's cache."""
    if has_app_context():
        _cache_of(current_app._get_current_object()).clear()  # noqa: SLF001


def _cache_of(app: Flask) -> ReferenceCache:
    return app.extensions[EXTENSION]


# --- emptied by the changes this process makes -----------------------------------------------


def _changes_reference(instance: object) -> bool:
    from crm.models import Contact

    table = getattr(type(instance), "__tablename__", None)
    if table in WATCHED_TABLES:
        return True
    if isinstance(instance, Contact):
        state = inspect(instance)
        if state.transient or state.pending or state.deleted or state.was_deleted:
            return True
        return any(state.attrs[name].history.has_changes() for name in CONTACT_ATTRIBUTES)
    return False


def _after_flush(session: Session, _flush_context) -> None:
    if any(_changes_reference(instance) for instance in chain(session.new, session.dirty, session.deleted)):
        _changed(session)


def _on_statement(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in WATCHED_TABLES:
        _changed(state.session)


def _changed(session: Session) -> None:
    # Emptied now, for what this transaction reads next, and again when it ends: what was
    # read meanwhile may be rolled back, or seen by others only once committed.
    session.info["reference_changed"] = True
    forget()


def _transaction_ended(session: Session) -> None:
    if session.info.pop("reference_changed", False):
        forget()


def _rolled_back(session: Session, _previous_transaction) -> None:
    _transaction_ended(session)


def install(app: Flask) -> None:
    app.extensions[EXTENSION] = ReferenceCache()
    # The session is shared by every app of the process: listen once.
    if not event.contains(db.session, "after_flush", _after_flush):
        event.listen(db.session, "after_flush", _after_flush)
        event.listen(db.session, "do_orm_execute", _on_statement)
        event.listen(db.session, "after_commit", _transaction_ended)
        event.listen(db.session, "after_soft_rollback", _rolled_back)
