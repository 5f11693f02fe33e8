"""Rate-limit keys that count per person without putting who they are in the limiter's storage.

A key that names an email address or a phone number would leave it in Redis (and in its
dumps) for as long as the limit lasts; a bare digest is no better, since hashing a list of
guessed addresses finds it. Keyed with the app's secret, the digest names the same person
every time and nobody without the secret can tell whom.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app


def personal_key(kind: str, who: str) -> str:
    """``kind:`` and 128 bits of an HMAC of ``who`` under SECRET_KEY."""
    digest = hmac.new(current_app.secret_key.encode(), who.encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{digest[:32]}"
