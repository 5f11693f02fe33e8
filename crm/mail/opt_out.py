"""The opt-out link every family message carries, and how an address is kept on the list.

The link holds the SHA-256 of the lower-cased address, signed without a time (it must work
for as long as the email is kept) under a salt of its own; never the address itself. The
list (family_opt_outs) keeps the same hash, so it outlives the retention purge that removes
addresses. The page it leads to is crm.family.routes.opt_out.

What the list stops: the messages a family gets without having asked, the follow-up
(OPTED_OUT_KINDS). The acknowledgement of a family's own request answers what they sent, so
it still goes. The follow-up job leaves a listed address out when it queues, and the outbox
runner (crm.mail.worker) and the admin's re-send (crm.admin_outbox) check again, because a
family may opt out while their follow-up is still in the outbox (retrying, held or dead).
"""

from __future__ import annotations

import hashlib

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.extensions import db
from crm.models import EmailKind, FamilyOptOut

SALT = "crm.family.opt-out"
# A token of ours is well under this; anything longer is refused before it is read.
MAX_TOKEN_LENGTH = 200
HASH_LENGTH = 64
OPTED_OUT_KINDS = frozenset({EmailKind.FAMILY_FOLLOW_UP})
NOT_SENT_OPTED_OUT = "Not sent: the family opted out"


def email_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=SALT)


def opt_out_token(email: str) -> str:
    return _serializer().dumps({"email": email_hash(email)})


def hash_of_opt_out_token(token: str | None) -> str | None:
    """The address hash an opt-out link was made for; None for anything we did not sign."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        data = _serializer().loads(token)
    except BadData:
        return None
    value = data.get("email") if isinstance(data, dict) else None
    if not isinstance(value, str) or len(value) != HASH_LENGTH:
        return None
    return value


def opted_out_hashes(hashes: set[str], session: Session | None = None) -> set[str]:
    """Those of `hashes` on the list, in one query (none for an empty set)."""
    if not hashes:
        return set()
    session = session or db.session
    return set(session.scalars(select(FamilyOptOut.email_hash).where(FamilyOptOut.email_hash.in_(hashes))))


def stopped_by_opt_out(kind: str, to_address: str, session: Session | None = None) -> bool:
    """Whether one message is of a kind an opt-out stops, to an address on the list."""
    if kind not in OPTED_OUT_KINDS or not to_address.strip():
        return False
    return bool(opted_out_hashes({email_hash(to_address)}, session))
