"""The opt-out link every family message carries, and how an address is kept on the list.

The link holds the SHA-256 of the lower-cased address, signed without a time (it must work
for as long as the email is kept) under a salt of its own; never the address itself. The
list (family_opt_outs) keeps the same hash, so it outlives the retention purge that removes
addresses. The page it leads to is crm.family.routes.opt_out.
"""

from __future__ import annotations

import hashlib

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer

SALT = "crm.family.opt-out"
# A token of ours is well under this; anything longer is refused before it is read.
MAX_TOKEN_LENGTH = 200
HASH_LENGTH = 64


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
