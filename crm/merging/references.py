"""Every row that points at a contact or an organisation, found in the models' metadata.

A merge moves each of them from the merged record to the one it is merged into. The list is
read from the foreign keys themselves, so a table added later with a key to contacts or
organisations is moved without anyone touching this module. How a row moves depends on the
unique keys its column is part of:

- plain: the column is in no unique key; every row moves.
- one per record: the column alone is unique (a user's contact, an organisation's holiday
  calendar); the row moves when the surviving record has none, and the merge is refused when
  both have one, since only a person can tell which to keep.
- shared: the column is unique together with others (a contact in a meeting, a region an
  organisation serves); the rows the survivor does not already have move, the others are
  dropped as duplicates.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import Column, Table, UniqueConstraint, and_, delete, exists, func, select, update

from crm.extensions import db


class Kind(enum.Enum):
    PLAIN = "plain"
    ONE_PER_RECORD = "one per record"
    SHARED = "shared"


@dataclass(frozen=True)
class Reference:
    """A column that points at the merged table's id."""

    table: Table
    column: Column
    kind: Kind
    # For SHARED: the other columns of the unique key, which tell a duplicate row.
    together_with: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.column.name}"


def _unique_keys(table: Table) -> list[set[str]]:
    keys = [{column.name for column in table.primary_key.columns}]
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            keys.append({column.name for column in constraint.columns})
    for index in table.indexes:
        # A partial index (a WHERE) holds for some rows only; an expression index names no column.
        partial = any(index.dialect_options[name].get("where") is not None for name in ("postgresql", "sqlite"))
        if index.unique and not partial and all(isinstance(expression, Column) for expression in index.expressions):
            keys.append({column.name for column in index.columns})
    for column in table.columns:
        if column.unique:
            keys.append({column.name})
    return [key for key in keys if key]


def _kind(table: Table, column: Column) -> tuple[Kind, tuple[str, ...]]:
    keys = [key for key in _unique_keys(table) if column.name in key]
    if any(key == {column.name} for key in keys):
        return Kind.ONE_PER_RECORD, ()
    if keys:
        others = sorted(set().union(*keys) - {column.name})
        return Kind.SHARED, tuple(others)
    return Kind.PLAIN, ()


def references_to(target: Table) -> list[Reference]:
    """Every column in the metadata with a foreign key to ``target``, by table and column."""
    found = []
    for table in db.metadata.sorted_tables:
        for key in table.foreign_keys:
            if key.column.table is target:
                kind, together_with = _kind(table, key.parent)
                found.append(Reference(table, key.parent, kind, together_with))
    return sorted(found, key=lambda reference: reference.label)


def count(reference: Reference, record_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(reference.table).where(reference.column == record_id))


def _duplicate_of_survivor(reference: Reference, loser_id: int, survivor_id: int):
    """For a SHARED reference: whether the loser's row has a twin pointing at the survivor."""
    twin = reference.table.alias("twin")
    return exists(
        select(1).where(
            twin.c[reference.column.name] == survivor_id,
            and_(*(twin.c[name] == reference.table.c[name] for name in reference.together_with)),
        )
    )


def plan(reference: Reference, loser_id: int, survivor_id: int) -> tuple[int, int]:
    """How many rows would move and how many would be dropped as duplicates."""
    total = count(reference, loser_id)
    if reference.kind is not Kind.SHARED or not total:
        return total, 0
    dropped = db.session.scalar(
        select(func.count())
        .select_from(reference.table)
        .where(reference.column == loser_id, _duplicate_of_survivor(reference, loser_id, survivor_id))
    )
    return total - dropped, dropped


def move(reference: Reference, loser_id: int, survivor_id: int) -> tuple[int, int]:
    """Point the loser's rows at the survivor (dropping shared duplicates); (moved, dropped).

    A ONE_PER_RECORD conflict is the caller's to refuse before this runs (crm.merging.services).
    """
    dropped = 0
    if reference.kind is Kind.SHARED:
        dropped = db.session.execute(
            delete(reference.table).where(
                reference.column == loser_id, _duplicate_of_survivor(reference, loser_id, survivor_id)
            )
        ).rowcount
    moved = db.session.execute(
        update(reference.table).where(reference.column == loser_id).values({reference.column.name: survivor_id})
    ).rowcount
    return moved, dropped
