"""The declarative base, its naming convention, the column types every model shares, the
helpers that name and read its constraints, and the LIKE escape every search uses."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, Enum, Index, MetaData, TypeDecorator, UniqueConstraint, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, make_transient_to_detached, mapped_column
from sqlalchemy.orm.attributes import instance_state

View = TypeVar("View", bound=Callable[..., Any])
Record = TypeVar("Record")

# Stable constraint names, so migrations read the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def writes_on_get(view: View) -> View:
    """Mark a GET view that writes (the inquiry page records who looked), so that on SQLite
    its transaction takes the write lock when it begins (crm._tune_sqlite)."""
    view.writes_on_get = True  # type: ignore[attr-defined]
    return view


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always stored and returned as timezone-aware UTC.

    SQLite keeps no zone and hands back naive values; normalising here means no caller
    ever compares a naive time with an aware one.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def as_read(session: Session, model: type[Record], values: dict[str, Any]) -> Record:
    """The record whose columns hold ``values`` (by attribute name, the primary key's among
    them), taken into ``session`` as if a SELECT had just read it, without one: for rows read
    as plain values (a cache, a statement over many rows) of which one is then needed as a
    record. A column left out is read when first asked for, as after an expiry. The session's
    own copy wins when it holds one, with whatever it changed."""
    mapper = inspect(model)
    key = session.identity_key(model, tuple(values[mapper.get_property_by_column(column).key] for column in mapper.primary_key))
    held = session.identity_map.get(key)
    if held is not None:
        return held
    # As a load fills a record: the values go straight into its state, without the change
    # events the constructor's assignments fire, nor the copy a merge makes (two thirds of the
    # cost). No model here tracks changes inside a value (no Mutable types) that would need them.
    record = mapper.class_manager.new_instance()
    instance_state(record).dict.update(values)
    make_transient_to_detached(record)  # which marks the columns left out as expired
    session.add(record)
    return record


def enum_column(enum_class: type[enum.Enum], column_name: str) -> Enum:
    """Store an enum as its value in a plain string column on every database, with a CHECK
    constraint over the values, named by the ``ck`` convention: ``ck_<table>_<column_name>``.

    The name must be the column's: the type cannot see the column it will be given to, and
    the constraint's name is what violated_constraint reports and the tests assert.
    """
    return Enum(
        enum_class,
        native_enum=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
        create_constraint=True,
        name=column_name,
    )


def one_of(column_name: str, values: Iterable[str]) -> str:
    """The SQL text of a CHECK that a column holds one of `values`: ``language IN ('en', 'es')``.

    The values are the code's own constants (enum values, language codes), never user input;
    a quote in one is refused rather than escaped."""
    values = list(values)
    if not values or any("'" in value for value in values):
        raise ValueError(f"not a set of plain values: {values!r}")
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column_name} IN ({listed})"


# What SQLite says when a write breaks a constraint. It names a CHECK and an index on
# expressions, but a plain UNIQUE only by its columns ("t.a, t.b"), which are then looked up
# in the models' metadata.
_SQLITE_NAMED = re.compile(r"(?:CHECK constraint failed: |UNIQUE constraint failed: index ')(\w+)")
_SQLITE_UNIQUE_COLUMNS = re.compile(r"UNIQUE constraint failed: ((?:\w+\.\w+(?:, )?)+)$")


def violated_constraint(error: IntegrityError) -> str | None:
    """The name of the constraint (or unique index) an IntegrityError reports, on PostgreSQL
    and SQLite alike; None when the database names none (a NOT NULL or foreign key on SQLite)."""
    diag = getattr(error.orig, "diag", None)
    if diag is not None:  # psycopg
        return diag.constraint_name
    message = str(error.orig)
    named = _SQLITE_NAMED.search(message)
    if named:
        return named.group(1)
    columns = _SQLITE_UNIQUE_COLUMNS.search(message)
    if columns:
        return _unique_named_by_columns([part.split(".") for part in columns.group(1).split(", ")])
    return None


def _unique_named_by_columns(qualified: list[list[str]]) -> str | None:
    table = Base.metadata.tables.get(qualified[0][0])
    if table is None:
        return None
    wanted = [column for _table, column in qualified]
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and [c.name for c in constraint.columns] == wanted:
            return constraint.name
    for index in table.indexes:
        if isinstance(index, Index) and index.unique and [c.name for c in index.columns] == wanted:
            return index.name
    return None


def like_pattern(text: str) -> str:
    """A LIKE pattern that matches `text` literally, anywhere; compare with escape="\\".

    The searches send it as one value, ``lower(column) LIKE :pattern``, the form the inbox's
    trigram indexes are shown to answer on PostgreSQL (tests/test_inquiry_inbox.py)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
