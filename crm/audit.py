"""Commit a unit of work together with the audit trail of what it changed."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Insert, Update, bindparam, event, insert, inspect, select, update
from sqlalchemy.orm import Mapper, RelationshipProperty, Session, make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from crm.extensions import db
from crm.models.audit import AuditEvent
from crm.models.held_post import HeldPost
from crm.models.second_factor import RecoveryCode, UserSecondFactor
from crm.models.user import User
from crm.models.user_session import UserSession

# Never copied into the trail: the trail itself is readable by managers. An email's body can
# hold a single-use link (an invitation, a password reset); the outbox keeps it, the trail not.
REDACTED_FIELDS = frozenset({"password_hash", "token_hash", "body_text"})
SKIPPED_FIELDS = frozenset({"created_at", "updated_at", "name_key"})


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


def _audited_attributes(obj: Any) -> tuple[str, ...]:
    return _audited_attributes_of(inspect(obj).mapper)


@cache
def _audited_attributes_of(mapper: Mapper) -> tuple[str, ...]:
    """Worked out once per model: every flush and every row a post inserts asks again."""
    names = [column.key for column in mapper.column_attrs]
    # Many-to-many collections (regions served, contacts in a meeting) are part of the record;
    # one-to-many back references are audited on the child instead.
    names += [
        rel.key
        for rel in mapper.relationships
        if isinstance(rel, RelationshipProperty) and rel.secondary is not None
    ]
    return tuple(name for name in names if name not in SKIPPED_FIELDS)


def _shown(name: str, value: Any) -> Any:
    return "(changed)" if name in REDACTED_FIELDS else _plain(value)


def _snapshot(obj: Any) -> dict[str, Any]:
    return {name: _shown(name, getattr(obj, name)) for name in _audited_attributes(obj)}


def snapshot(obj: Any) -> dict[str, Any]:
    """A record's audited fields as the trail writes them: two snapshots that are equal mean
    the trail would see no change (an import tells "unchanged" rows so)."""
    return _snapshot(obj)


def _changed_fields(obj: Any) -> dict[str, list[Any]]:
    state = inspect(obj)
    changes: dict[str, list[Any]] = {}
    for name in _audited_attributes(obj):
        history = state.attrs[name].history
        if not history.has_changes():
            continue
        if isinstance(state.mapper.attrs[name], RelationshipProperty):
            before = list(history.unchanged) + list(history.deleted)
            after = list(history.unchanged) + list(history.added)
            changes[name] = [_shown(name, before), _shown(name, after)]
        else:
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
            if _plain(before) != _plain(after):
                changes[name] = [_shown(name, before), _shown(name, after)]
    return changes


# Sessions are sign-ins, not records anyone edits: what ends them (a deactivation, a
# password change) is audited on the user. So are second factors and recovery codes, by
# events that say what happened (crm.auth.second_factor) and never carry the secrets.
# A held Get in Touch send is a copy, on its way to being an inquiry whose own entries record
# it (and are scrubbed by the retention purge); entries of its own would keep what a family
# wrote out of the purge's reach.
NOT_AUDITED = (AuditEvent, UserSession, UserSecondFactor, RecoveryCode, HeldPost)


def _is_audited(obj: Any) -> bool:
    return isinstance(obj, db.Model) and not isinstance(obj, NOT_AUDITED)


def _is_audited_type(model: type[Any]) -> bool:
    return issubclass(model, db.Model) and not issubclass(model, NOT_AUDITED)


def audited_types() -> list[str]:
    """The names the trail files records under (AuditEvent.entity_type), sorted."""
    models = (mapper.class_ for mapper in db.Model.registry.mappers)
    return sorted(model.__name__ for model in models if not issubclass(model, NOT_AUDITED))


def _identity(obj: Any) -> str:
    return ",".join(str(part) for part in inspect(obj).identity)


class _PendingChanges:
    """What the flushes of the current transaction changed, gathered until audit.commit writes it.

    Collected at every flush, not only at commit, because a query can autoflush a change
    before commit() runs and would otherwise hide it from the trail.
    """

    def __init__(self) -> None:
        self.created: list[Any] = []
        self.updated: dict[int, tuple[Any, dict[str, list[Any]]]] = {}
        self.deleted: list[tuple[Any, dict[str, Any]]] = []
        # Rows written by insert_rows, without an object: (entity type, id, snapshot).
        self.inserted: list[tuple[str, str, dict[str, Any]]] = []

    def note_flush(self, session: Session) -> None:
        self.created += [obj for obj in session.new if _is_audited(obj)]
        for obj in session.dirty:
            if not _is_audited(obj) or not session.is_modified(obj) or obj in self.created:
                continue
            self.note_update(obj, _changed_fields(obj))
        self.deleted += [(obj, _snapshot(obj)) for obj in session.deleted if _is_audited(obj)]

    def note_update(self, obj: Any, changed: dict[str, list[Any]]) -> None:
        _, changes = self.updated.setdefault(id(obj), (obj, {}))
        for name, (before, after) in changed.items():
            # Keep the first "before" of the transaction and the last "after".
            changes[name] = [changes[name][0] if name in changes else before, after]

    def events(self, actor_id: int | None) -> list[dict[str, Any]]:
        """The AuditEvent rows to insert, as values."""
        deleted_ids = {id(obj) for obj, _ in self.deleted}

        def event(action: str, obj: Any, changes: dict[str, Any]) -> dict[str, Any]:
            return entry(action, type(obj).__name__, _identity(obj), changes)

        def entry(action: str, entity_type: str, entity_id: str, changes: dict[str, Any]) -> dict[str, Any]:
            return {
                "actor_id": actor_id,
                "action": action,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "changes": changes,
            }

        events = [
            event("create", obj, {name: [None, value] for name, value in _snapshot(obj).items()})
            for obj in self.created
            if id(obj) not in deleted_ids
        ]
        events += [
            entry("create", entity_type, entity_id, {name: [None, value] for name, value in snapshot.items()})
            for entity_type, entity_id, snapshot in self.inserted
        ]
        for obj, changes in self.updated.values():
            # A field changed and changed back within the transaction is no change.
            kept = {name: pair for name, pair in changes.items() if name in REDACTED_FIELDS or pair[0] != pair[1]}
            if kept and id(obj) not in deleted_ids:
                events.append(event("update", obj, kept))
        events += [
            event("delete", obj, {name: [value, None] for name, value in snapshot.items()})
            for obj, snapshot in self.deleted
        ]
        return events


_PENDING_KEY = "audit_pending"


def _pending(session: Session) -> _PendingChanges:
    return session.info.setdefault(_PENDING_KEY, _PendingChanges())


@event.listens_for(Session, "before_flush")
def _collect_changes(session: Session, _context: Any, _instances: Any) -> None:
    _pending(session).note_flush(session)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget_changes(session: Session, *_args: Any) -> None:
    # A commit that bypassed audit.commit (test factories, migrations) or a rollback leaves
    # nothing behind to be blamed on the next unit of work.
    session.info.pop(_PENDING_KEY, None)


_INSERTED_KEY = "records_inserted_as_values"


def take_in_inserted(record: Any) -> None:
    """Take ``record``, whose row insert_rows just stored, into the session as stored: what
    was set on it stays loaded, the rest (columns the database fills in) is read when first
    asked for. Should the transaction roll back, the record leaves the session, as one the
    session inserted itself would: a second attempt (crm.outage) may store another under
    the same id."""
    make_transient_to_detached(record)
    db.session.add(record)
    db.session.info.setdefault(_INSERTED_KEY, []).append(record)


@event.listens_for(Session, "after_commit")
def _keep_inserted(session: Session) -> None:
    session.info.pop(_INSERTED_KEY, None)


@event.listens_for(Session, "after_soft_rollback")
def _expunge_inserted(session: Session, previous_transaction: Any) -> None:
    # A savepoint's rollback leaves them: the outer transaction goes on, and which of them
    # the savepoint inserted is not known (nothing inserts as values inside one).
    if previous_transaction.parent is not None:
        return
    for record in session.info.pop(_INSERTED_KEY, []):
        if record in session:
            session.expunge(record)


def commit(actor: User | None) -> None:
    """Flush the session, write an AuditEvent for every audited create, update and delete of
    this transaction, and commit both together."""
    session = db.session()
    session.flush()
    pending = session.info.pop(_PENDING_KEY, None)
    entries = pending.events(actor.id if actor is not None else None) if pending is not None else []
    if entries:
        # One statement, without objects: nothing reads an entry back in the transaction that
        # wrote it, and the unit of work cost more than the insert.
        session.execute(insert(AuditEvent.__table__), entries)
    session.commit()


def new_parameter(name: str) -> str:
    """The parameter that carries a column's value in the statements that write values without
    the unit of work (update_record's, the refusing INSERTs insert_rows runs for its callers):
    ``new_`` + the attribute's name, apart from any parameter the statement has of its own."""
    return f"new_{name}"


def new_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """``values``, by attribute name, as new_parameter names them."""
    return {new_parameter(name): value for name, value in values.items()}


def insert_rows(
    model: type[Any],
    rows: list[dict[str, Any]],
    *,
    filled: Callable[[str, Any], None] | None = None,
    unless: tuple[Callable[[tuple[str, ...]], Insert], dict[str, Any]] | None = None,
) -> list[int]:
    """Insert new rows of ``model`` in one statement, without ORM objects, and note them for
    the trail as a flush notes a new object; returns their ids, in order.

    For rows written once and not read back in the same transaction (a new inquiry's timeline
    and emails): the unit of work costs far more than the insert. The session knows nothing
    of them, so a relationship already loaded in it does not list them until it is read again.

    ``unless`` inserts one row by a statement of the caller's, which may refuse it: a builder
    given the row's columns, whose statement takes each value as its new_parameter and
    returns the id, or nothing when it refuses the row; and that statement's other
    parameters. A row refused is not noted, and no id is returned (crm.inquiries.intake).
    """
    if not rows:
        return []
    mapper = inspect(model)
    given = rows
    rows = [_with_defaults(mapper, row) for row in rows]
    if filled is not None:
        [row] = rows
        for name in row.keys() - given[0].keys():
            filled(name, row[name])
    if unless is not None:
        [row] = rows
        build, parameters = unless
        found = db.session.scalar(build(tuple(row)), {**new_parameters(row), **parameters})
        ids = [] if found is None else [found]
        if not ids:
            return []
    else:
        statement = _insert_statement(model)
        # One row, one execution: a list of one would take the slower path of many rows.
        ids = [db.session.scalar(statement, rows[0])] if len(rows) == 1 else list(db.session.scalars(statement, rows))
    if _is_audited_type(model):
        names = _audited_attributes_of(mapper)
        pending = _pending(db.session())
        pending.inserted += [
            (model.__name__, str(row_id), {name: _shown(name, row_id if name == "id" else row.get(name)) for name in names})
            for row_id, row in zip(ids, rows, strict=True)
        ]
    return ids


def update_record(record: Any, **values: Any) -> None:
    """Write ``values`` (by attribute name) to ``record``'s row in one UPDATE now, rather than
    at the next flush, and note the change for the trail as a flush would; ``record`` then
    holds them as stored. For a change every post makes (the chosen contact's turn): the unit
    of work's flush cost more than the statement, and the post then has nothing to flush.

    Not for what the reference cache keeps (crm.reference_cache): it learns of a statement by
    its table alone, so a contact's name, organisation or topics changed here would go unseen."""
    state = inspect(record)
    if _is_audited(record):
        before = {name: getattr(record, name) for name in values if name not in SKIPPED_FIELDS}
        _pending(db.session()).note_update(
            record,
            {
                name: [_shown(name, was), _shown(name, values[name])]
                for name, was in before.items()
                if _plain(was) != _plain(values[name])
            },
        )
    parameters = new_parameters(values)
    [record_id] = state.identity
    statement = _update_statement(type(record), tuple(sorted(values)))
    result = db.session.execute(statement, {"record_id": record_id, **parameters})
    if result.rowcount != 1:
        # As the unit of work would: the row was deleted by another transaction meanwhile.
        raise StaleDataError(f"{type(record).__name__} {record_id} was not found to update")
    for name, value in values.items():
        set_committed_value(record, name, value)
    # What the statement's own column defaults wrote (updated_at) is read again when asked for.
    stale = [name for name in _set_on_update(type(record)) if name not in values]
    if stale:
        db.session.expire(record, stale)


@cache
def _set_on_update(model: type[Any]) -> tuple[str, ...]:
    """The attributes whose columns an UPDATE sets by default (onupdate), worked out once per
    model rather than at every post."""
    return tuple(attribute.key for attribute in inspect(model).column_attrs if attribute.columns[0].onupdate is not None)


@cache
def _update_statement(model: type[Any], names: tuple[str, ...]) -> Update:
    """Built once per model and set of columns, as _insert_statement is."""
    mapper = inspect(model)
    [key] = mapper.primary_key
    columns = {mapper.get_property(name).columns[0]: name for name in names}
    return (
        update(mapper.local_table)
        .where(key == bindparam("record_id"))
        .values({column: bindparam(new_parameter(name), type_=column.type) for column, name in columns.items()})
    )


@cache
def _insert_statement(model: type[Any]) -> Insert:
    """On the table, not the class: the ORM's bulk insert would add its own bookkeeping. Built
    once per model: a statement object keeps its cache key, which SQLAlchemy would otherwise
    work out again at every insert."""
    mapper = inspect(model)
    return insert(mapper.local_table).returning(mapper.primary_key[0], sort_by_parameter_order=True)


def _with_defaults(mapper: Mapper, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with the Python-side defaults of the columns it leaves out filled in, as the
    unit of work would, so that the trail records the values stored."""
    filled = dict(row)
    for key, default in _python_defaults(mapper):
        if key not in filled:
            filled[key] = default.arg if default.is_scalar else default.arg(None)
    return filled


@cache
def _python_defaults(mapper: Mapper) -> tuple[tuple[str, Any], ...]:
    """The attributes whose columns have a default worked out in Python (a value, or a function
    called at each insert), and those defaults; once per model, not at every row."""
    return tuple(
        (attribute.key, column.default)
        for attribute in mapper.column_attrs
        if (column := attribute.columns[0]).default is not None and (column.default.is_scalar or column.default.is_callable)
    )


def history_for(entity_type: str, entity_id: int | str, limit: int = 50) -> list[AuditEvent]:
    """One record's change history, newest first, for the "Change history" of its page
    (templates/_audit_history.html); the audit page lists them all (crm.audit_trail)."""
    query = (
        select(AuditEvent)
        .options(selectinload(AuditEvent.actor))
        .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id))
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    # No autoflush: a page shown again with a refused form's values must not write them.
    with db.session.no_autoflush:
        return list(db.session.scalars(query))
