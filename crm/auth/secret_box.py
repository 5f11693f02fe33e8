"""Encryption of the TOTP secrets at rest (Fernet: AES-128-CBC with an HMAC-SHA256 tag).

The key is derived from SECRET_KEY with HKDF for this purpose alone, so the database on its
own yields no codes. Rotating SECRET_KEY makes every stored secret unreadable: those users
then sign in with a recovery code and set their app up again, or an admin resets them (README).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

PURPOSE = b"backbone-crm two-factor secrets"


class UnreadableSecret(ValueError):
    """The stored secret was encrypted with another SECRET_KEY, or was tampered with."""


def _fernet(secret_key: str) -> Fernet:
    # Imported here: only two-factor sign-in and set-up need cryptography, not every request.
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(plaintext: str, secret_key: str | None = None) -> str:
    return _fernet(secret_key or current_app.secret_key).encrypt(plaintext.encode()).decode()


def open_sealed(token: str, secret_key: str | None = None) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return _fernet(secret_key or current_app.secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise UnreadableSecret from None
