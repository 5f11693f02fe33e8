from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.database import UTCDateTime, utcnow
from crm.extensions import db

if TYPE_CHECKING:
    from crm.models.user import User

# What a spreadsheet can be imported as (crm.imports.kinds names their fields).
IMPORT_KINDS = ("organisations", "contacts", "grants", "interactions")
_KIND_CHECK = "kind IN ('organisations', 'contacts', 'grants', 'interactions')"


class ImportMapping(db.Model):
    """Which column goes to which field, remembered for a kind of import and a set of column
    headings: the next file with the same headings is mapped the same way without asking."""

    __tablename__ = "import_mappings"
    __table_args__ = (
        UniqueConstraint("kind", "headers_key", name="uq_import_mappings_kind_headers_key"),
        CheckConstraint(_KIND_CHECK, name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    # SHA-256 of the headings in order (crm.imports.services.headers_key).
    headers_key: Mapped[str] = mapped_column(String(64))
    # {"heading": "field"}; a heading left out is not imported.
    mapping: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ImportUpload(db.Model):
    """A file uploaded for import, kept between its preview and its confirmation.

    Kept here rather than in the session cookie (too small, and readable by the browser); its
    id is random and it is only found together with the user who uploaded it. Old ones are
    removed whenever a new one arrives (crm.imports.services.store_upload)."""

    __tablename__ = "import_uploads"
    __table_args__ = (
        CheckConstraint(_KIND_CHECK, name="kind_known"),
        Index("ix_import_uploads_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    # The mapping chosen for this file ({"heading": "field"}); None until the person chooses.
    mapping: Mapped[dict[str, str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()
