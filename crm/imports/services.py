"""Importing a spreadsheet: the column mapping (guessed, remembered), the uploads kept between
preview and confirmation, and the run itself, row by row, as a dry run or for real.

A run stages every row through the record's own form and service function, in one
transaction. A dry run rolls it back; a real one commits it with its audit trail and one
event for the import, or, if anything fails while saving, rolls all of it back.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from crm import audit
from crm.database import utcnow, violated_constraint
from crm.extensions import db
from crm.imports.kinds import EXTERNAL_ID, EXTERNAL_ID_MAX, KINDS, ImportField, Kind, Lookups, RowRefused
from crm.imports.reading import Sheet, text_value, time_in_date
from crm.merging import services as merging
from crm.models import AuditEvent, ImportMapping, ImportUpload, User

# An upload nobody confirmed is removed this long after it arrived.
UPLOAD_KEPT_FOR = timedelta(days=1)
CREATE, UPDATE, UNCHANGED, REFUSED = "create", "update", "unchanged", "refused"


class ImportFailed(RuntimeError):
    """Saving failed part-way (the database refused a row); nothing was written."""


# --- mapping -------------------------------------------------------------------------------


def headers_key(headings: list[str]) -> str:
    return hashlib.sha256("\x1f".join(heading.casefold() for heading in headings).encode()).hexdigest()


def _simplified(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.casefold()).strip()


def guess_mapping(kind: Kind, headings: list[str]) -> dict[str, str]:
    """Headings that name a field (its name, label or a usual synonym), each field once."""
    singular = kind.name.removesuffix("s")
    # "Grant ID" in a grants file is the grant's own id; in a contacts file "Organization ID"
    # is not the contact's, so only the kind's own name counts.
    names: dict[str, str] = {_simplified(f"{word} id"): EXTERNAL_ID.name for word in {singular, singular.replace("organis", "organiz")}}
    for item in kind.fields:
        for word in (item.name, item.label, *item.also):
            names.setdefault(_simplified(word), item.name)
    mapping: dict[str, str] = {}
    for heading in headings:
        name = names.get(_simplified(heading))
        if name and name not in mapping.values():
            mapping[heading] = name
    return mapping


def remembered_mapping(kind: Kind, headings: list[str]) -> dict[str, str] | None:
    saved = db.session.scalar(
        select(ImportMapping).where(ImportMapping.kind == kind.name, ImportMapping.headers_key == headers_key(headings))
    )
    if saved is None:
        return None
    # The same headings but for case ("NAME" for "Name") share the key, so they are matched so
    # too. Only what still makes sense: a field since removed is dropped.
    current = {heading.casefold(): heading for heading in headings}
    return {
        current[heading.casefold()]: name
        for heading, name in saved.mapping.items()
        if heading.casefold() in current and kind.field(name)
    }


def suggested_mapping(kind: Kind, headings: list[str]) -> dict[str, str]:
    remembered = remembered_mapping(kind, headings)
    return remembered if remembered is not None else guess_mapping(kind, headings)


def remember_mapping(kind: Kind, headings: list[str], mapping: dict[str, str]) -> None:
    """Keep this mapping for the next file of this kind with the same headings (not committed)."""
    key = headers_key(headings)
    saved = db.session.scalar(select(ImportMapping).where(ImportMapping.kind == kind.name, ImportMapping.headers_key == key))
    if saved is None:
        saved = ImportMapping(kind=kind.name, headers_key=key)
        db.session.add(saved)
    saved.mapping = dict(mapping)


def mapping_problems(kind: Kind, headings: list[str], mapping: dict[str, str]) -> list[str]:
    problems = []
    used: dict[str, str] = {}
    for heading, name in mapping.items():
        item = kind.field(name)
        if heading not in headings or item is None:
            problems.append(f"“{heading[:100]}” cannot be imported as “{name[:40]}”.")
        elif name in used:
            problems.append(f"“{used[name]}” and “{heading}” are both mapped to {item.label}; choose one.")
        else:
            used[name] = heading
    for name in kind.required:
        if name not in used:
            item = kind.field(name)
            problems.append(f"Choose the column that holds {item.label if item else name}.")
    return problems


def parse_mapping_option(kind: Kind, text: str) -> dict[str, str]:
    """A mapping written on the command line: "Heading=field,Other heading=field"."""
    mapping = {}
    for part in text.split(","):
        if not part.strip():
            continue
        heading, equals, name = part.partition("=")
        if not equals:
            raise ValueError(f"“{part.strip()}” is not written as Heading=field.")
        mapping[heading.strip()] = name.strip()
    return mapping


# --- uploads kept between preview and confirmation ----------------------------------------


def store_upload(user: User, kind: Kind, filename: str, content: bytes) -> ImportUpload:
    """Keep the file for this user under a random id, and forget old uploads (anybody's)."""
    db.session.execute(delete(ImportUpload).where(ImportUpload.created_at < utcnow() - UPLOAD_KEPT_FOR))
    upload = ImportUpload(
        id=secrets.token_urlsafe(32), user_id=user.id, kind=kind.name, filename=filename[:200] or "upload", content=content
    )
    db.session.add(upload)
    db.session.commit()
    return upload


def upload_for(user: User, upload_id: str) -> ImportUpload | None:
    """The user's own upload, if it is still kept; anyone else's is as good as missing."""
    if not (0 < len(upload_id) <= 43):
        return None
    upload = db.session.get(ImportUpload, upload_id)
    if upload is None or upload.user_id != user.id or upload.created_at < utcnow() - UPLOAD_KEPT_FOR:
        return None
    return upload


def set_upload_mapping(upload: ImportUpload, headings: list[str], mapping: dict[str, str]) -> None:
    upload.mapping = dict(mapping)
    remember_mapping(KINDS[upload.kind], headings, mapping)
    db.session.commit()


# --- the run -------------------------------------------------------------------------------


@dataclass
class RowOutcome:
    number: int  # the row's number in the file, as the spreadsheet shows it
    action: str
    label: str
    cells: list[Any]
    reason: str = ""


@dataclass
class ImportResult:
    kind: Kind
    filename: str
    headings: list[str]
    outcomes: list[RowOutcome] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    dry_run: bool = True

    def count(self, action: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.action == action)

    @property
    def counts(self) -> dict[str, int]:
        return {action: self.count(action) for action in (CREATE, UPDATE, UNCHANGED, REFUSED)}

    @property
    def refused(self) -> list[RowOutcome]:
        return [outcome for outcome in self.outcomes if outcome.action == REFUSED]

    def summary(self) -> str:
        counts = self.counts
        return (
            f"{counts[CREATE]} to create, {counts[UPDATE]} to update, {counts[UNCHANGED]} unchanged, {counts[REFUSED]} refused"
            if self.dry_run
            else f"{counts[CREATE]} created, {counts[UPDATE]} updated, {counts[UNCHANGED]} unchanged, {counts[REFUSED]} refused"
        )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _errors(form, kind: Kind, skip: set[str] | None = None) -> str:
    labels = {item.name: item.label for item in kind.fields}
    parts = []
    for name, errors in form.errors.items():
        if skip and name in skip:
            continue
        label = labels.get(name) or getattr(getattr(form, name, None), "label", None)
        label = label.text if hasattr(label, "text") else (label or name)
        messages = [error for error in errors if isinstance(error, str)]
        parts.append(f"{label}: {' '.join(messages) or 'is not valid.'}")
    return " ".join(parts)


def _followed(record: Any) -> tuple[Any, bool]:
    """A merged record's row updates the record it was merged into (crm.merging), which keeps
    an external id of its own: (that record, True); any other record, or None: (it, False)."""
    survivor = merging.survivor_of(record)
    return survivor, survivor is not record


class _Run:
    def __init__(self, kind: Kind, sheet: Sheet, mapping: dict[str, str], actor: User | None) -> None:
        self.kind = kind
        self.columns: list[tuple[int, ImportField]] = [
            (sheet.headings.index(heading), item)
            for heading, name in mapping.items()
            if heading in sheet.headings and (item := kind.field(name)) is not None
        ]
        self.actor = actor
        self.lookups = Lookups()
        # What earlier rows of the file were: ("external", id), ("key", natural key) or
        # ("record", id of the object) -> the first row's number.
        self.seen: dict[tuple, int] = {}

    def row(self, number: int, cells: list[Any]) -> RowOutcome:
        outcome = RowOutcome(number=number, action=REFUSED, label="", cells=cells)
        try:
            outcome.action, outcome.label = self._stage(number, cells)
        except RowRefused as refusal:
            outcome.reason = str(refusal)
        return outcome

    def _overlay(self, cells: list[Any]) -> tuple[dict[str, list[str]], str | None, dict[str, str]]:
        """What the row's cells post to the form, its external id, and the cells that could
        not be read ({field: message}), which are left out of what is posted."""
        overlay: dict[str, list[str]] = {}
        external_id = None
        problems: dict[str, str] = {}
        for index, item in self.columns:
            value = cells[index]
            if _blank(value):
                continue  # an empty cell leaves the field as it is (a new record: empty)
            if item is EXTERNAL_ID:
                external_id = text_value(value)
                if len(external_id) > EXTERNAL_ID_MAX:
                    raise RowRefused(f"{item.label}: keep it to {EXTERNAL_ID_MAX} characters.")
                continue
            try:
                overlay[item.name] = item.convert(value, self.lookups)
            except ValueError as error:
                problems[item.name] = f"{item.label}: {error}"
        for index, item in self.columns:
            # A date-time in the date's cell gives the time, unless the row has a time of its own.
            if item.time_field is None or item.name not in overlay or item.time_field in overlay or item.time_field in problems:
                continue
            try:
                at = time_in_date(cells[index])
            except ValueError as error:
                problems[item.time_field] = f"{item.label}: {error}"
                continue
            if at is not None:
                overlay[item.time_field] = [at.strftime("%H:%M")]
        return overlay, external_id, problems

    def _form(self, record: Any, overlay: dict[str, list[str]]):
        posted = dict(self.kind.posted(record)) if record is not None else dict(self.kind.defaults)
        posted.update(overlay)
        formdata = MultiDict([(name, value) for name, values in posted.items() for value in values])
        form = self.kind.form(formdata, record, self.lookups)
        return form, form.validate()

    def _natural_key(self, data: dict) -> tuple | None:
        try:
            return self.kind.natural_key(data)
        except (KeyError, TypeError, AttributeError, ValueError):
            return None

    def _earlier(self, marks: list[tuple], how: str) -> None:
        for mark in marks:
            if mark in self.seen:
                raise RowRefused(f"Same as row {self.seen[mark]} ({how}): only the first of the two is imported.")

    def _stage(self, number: int, cells: list[Any]) -> tuple[str, str]:
        kind = self.kind
        overlay, external_id, unreadable = self._overlay(cells)
        record = None
        if external_id is not None:
            self._earlier([("external", external_id)], "the same external id")
            record = db.session.scalar(select(kind.model).where(kind.model.external_id == external_id))
        record, followed = _followed(record)
        form, valid = self._form(record, overlay)
        key = self._natural_key(form.data)
        if record is None and key is not None:
            record, followed = _followed(kind.find(key))
            if record is not None:
                form, valid = self._form(record, overlay)
                key = self._natural_key(form.data)
        if key is not None:
            self._earlier([("key", key)], kind.key_words)
        if record is not None:
            self._earlier(
                [("record", id(record))], kind.key_words if external_id is None and not followed else "the same record"
            )
        if unreadable or not valid:
            # Every problem of the row at once: the cells not read, then what the form says of the rest.
            others = _errors(form, kind, skip=set(unreadable)) if not valid else ""
            raise RowRefused(" ".join([*unreadable.values(), others]).strip())
        if record is not None and external_id and not followed and record.external_id not in (None, external_id):
            raise RowRefused(f"This matches a record whose external id is {record.external_id}, not {external_id}.")
        existing = record is not None
        record = record if existing else kind.model()
        before = kind.fingerprint(record) if existing else None
        kind.stage(record, form.data, self.actor)
        if external_id and not followed:
            record.external_id = external_id
        try:
            db.session.flush()
        except IntegrityError as error:
            db.session.rollback()
            raise ImportFailed(
                f"Row {number} could not be saved ({violated_constraint(error) or 'refused by the database'}); "
                "nothing was imported."
            ) from None
        marks = [("record", id(record))] + ([("external", external_id)] if external_id else []) + ([("key", key)] if key else [])
        for mark in marks:
            self.seen.setdefault(mark, number)
        label = kind.describe(form.data)
        if not existing:
            return CREATE, label
        return (UNCHANGED if kind.fingerprint(record) == before else UPDATE), label


def run(
    kind: Kind, sheet: Sheet, mapping: dict[str, str], actor: User | None, *, filename: str, dry_run: bool
) -> ImportResult:
    """Import the sheet's rows, or (dry_run) only say what importing them would do.

    Rows that cannot be imported are refused, each with its reason, and the others are
    imported all together: one commit with the audit trail and one "import" event with the
    file name and the counts. Raises ImportFailed, with nothing written, if saving fails."""
    result = ImportResult(kind=kind, filename=filename, headings=sheet.headings, notices=list(sheet.notices), dry_run=dry_run)
    work = _Run(kind, sheet, mapping, actor)
    try:
        for number, cells in sheet.rows:
            result.outcomes.append(work.row(number, cells))
        if dry_run:
            db.session.rollback()
            return result
        db.session.add(
            AuditEvent(
                actor_id=actor.id if actor is not None else None,
                action="import",
                entity_type="Import",
                entity_id=kind.name,
                changes={"file": filename, **result.counts},
            )
        )
        audit.commit(actor)
    except IntegrityError as error:
        db.session.rollback()
        raise ImportFailed(
            f"The import could not be saved ({violated_constraint(error) or 'refused by the database'}); nothing was imported."
        ) from None
    except BaseException:
        db.session.rollback()
        raise
    return result


def refusals_rows(result: ImportResult) -> list[list[Any]]:
    """The refused rows as they were in the file, with the row number and the reason."""
    return [[outcome.number, *outcome.cells, outcome.reason] for outcome in result.refused]


def refusals_header(result: ImportResult) -> list[str]:
    return ["Row", *result.headings, "Error"]
