"""Cursor pagination over ids: a page is the records after the last id the client saw.

The cursor is opaque to clients (base64 of the last id), so the order may change later
without breaking them; a cursor that is not one of ours is a 400 that says so.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from flask import abort, current_app, request
from sqlalchemy import Select

from crm.extensions import db
from crm.records import MAX_ID

MAX_LIMIT = 100
CURSOR_PREFIX = "id:"


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    """The id a cursor points after; None when it is not one of ours."""
    if not cursor or len(cursor) > 40 or not cursor.isascii():
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    number = text.removeprefix(CURSOR_PREFIX)
    if not text.startswith(CURSOR_PREFIX) or not (number.isascii() and number.isdigit()) or len(number) > 10:
        return None
    value = int(number)
    return value if 0 <= value <= MAX_ID else None


def limit_arg() -> int:
    raw = request.args.get("limit", "")
    if not raw:
        return min(current_app.config["PAGE_SIZE"], MAX_LIMIT)
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= MAX_LIMIT):
        abort(400, f"'limit' must be a whole number from 1 to {MAX_LIMIT}.")
    return int(raw)


def cursor_arg() -> int:
    raw = request.args.get("cursor", "")
    if not raw:
        return 0
    after = decode_cursor(raw)
    if after is None:
        abort(400, "'cursor' is not a cursor this API gave out; start again without it.")
    return after


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def fetch(query: Select, model: Any) -> Page:
    """The page of `query` that ?cursor= and ?limit= ask for, in id order."""
    limit, after = limit_arg(), cursor_arg()
    rows = list(db.session.scalars(query.where(model.id > after).order_by(model.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor(rows[-1].id) if more else None)
