"""Commit a unit of work together with the audit trail of what it changed."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import RelationshipProperty

from crm.extensions import db
from crm.models.audit import AuditEvent
from crm.models.user import User

# Never copied into the trail: the trail itself is readable by managers.
REDACTED_FIELDS = frozenset({"password_hash", "session_token"})
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


def _audited_attributes(obj: Any) -> list[str]:
    mapper = inspect(obj).mapper
    names = [column.key for column in mapper.column_attrs]
    # Many-to-many collections (regions served, contacts in a meeting) are part of the record;
    # one-to-many back references are audited on the child instead.
    names += [
        rel.key
        for rel in mapper.relationships
        if isinstance(rel, RelationshipProperty) and rel.secondary is not None
    ]
    return [name for name in names if name not in SKIPPED_FIELDS]


def _shown(name: str, value: Any) -> Any:
    return "(changed)" if name in REDACTED_FIELDS else _plain(value)


def _snapshot(obj: Any) -> dict[str, Any]:
    return {name: _shown(name, getattr(obj, name)) for name in _audited_attributes(obj)}


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


def _is_audited(obj: Any) -> bool:
    return isinstance(obj, db.Model) and not isinstance(obj, AuditEvent)


def _identity(obj: Any) -> str:
    return ",".join(str(part) for part in inspect(obj).identity)


def commit(actor: User | None) -> None:
    """Flush the session, write an AuditEvent for every audited create, update and delete,
    and commit both in one transaction."""
    session = db.session
    updates = [
        (obj, _changed_fields(obj))
        for obj in session.dirty
        if _is_audited(obj) and session.is_modified(obj)
    ]
    deletes = [(obj, _snapshot(obj)) for obj in session.deleted if _is_audited(obj)]
    creates = [obj for obj in session.new if _is_audited(obj)]
    session.flush()

    actor_id = actor.id if actor is not None else None
    events = [
        AuditEvent(
            actor_id=actor_id,
            action="create",
            entity_type=type(obj).__name__,
            entity_id=_identity(obj),
            changes={name: [None, value] for name, value in _snapshot(obj).items()},
        )
        for obj in creates
    ]
    events += [
        AuditEvent(
            actor_id=actor_id,
            action="update",
            entity_type=type(obj).__name__,
            entity_id=_identity(obj),
            changes=changes,
        )
        for obj, changes in updates
        if changes
    ]
    events += [
        AuditEvent(
            actor_id=actor_id,
            action="delete",
            entity_type=type(obj).__name__,
            entity_id=_identity(obj),
            changes={name: [value, None] for name, value in snapshot.items()},
        )
        for obj, snapshot in deletes
    ]
    session.add_all(events)
    session.commit()


def history_for(entity_type: str, entity_id: int | str, limit: int = 50) -> list[AuditEvent]:
    from sqlalchemy import select

    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id))
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )
