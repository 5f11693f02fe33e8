"""Schema objects that only one of our databases can hold, and how the migration checks see them.

SQLite serves local work and PostgreSQL production, from the same models and migrations.
A few indexes exist only on PostgreSQL (trigram indexes need its pg_trgm extension):
create_all skips them on SQLite, and so does the comparison of a migrated database with the
models (`flask db check`, tests/test_migrations.py), which is given the models as SQLite
holds them. Alembic cannot read an expression index back from SQLite, so it could only warn
that it skipped them; for the same reason the comparison on SQLite leaves out the expression
indexes SQLite does hold (``unread_on_sqlite``).
"""

from __future__ import annotations

from sqlalchemy import Index, MetaData

ONLY_ON = "only_on"
UNREAD_ON = "unread_on"


def postgresql_only(index: Index) -> Index:
    index.info[ONLY_ON] = "postgresql"
    return index.ddl_if(dialect="postgresql")


def unread_on_sqlite(index: Index) -> Index:
    """An index on an expression: SQLite holds it, but SQLAlchemy cannot read it back from
    SQLite, so the comparison there leaves it out (tests/test_integrity.py checks it exists)."""
    index.info[UNREAD_ON] = "sqlite"
    return index


def schema_on(metadata: MetaData, dialect_name: str) -> MetaData:
    """The models' schema as a database of ``dialect_name`` holds it: a copy without the indexes
    made only for another database, or ``metadata`` itself when there are none."""
    elsewhere = {
        (table.name, index.name)
        for table in metadata.tables.values()
        for index in table.indexes
        if index.info.get(ONLY_ON, dialect_name) != dialect_name or index.info.get(UNREAD_ON) == dialect_name
    }
    if not elsewhere:
        return metadata
    copy = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(copy)
    for table in copy.tables.values():
        for index in [index for index in table.indexes if (table.name, index.name) in elsewhere]:
            table.indexes.discard(index)
    return copy
