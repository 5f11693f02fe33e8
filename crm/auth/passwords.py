"""Argon2id password hashing."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

_production_hasher = PasswordHasher()  # argon2-cffi's defaults follow RFC 9106's advice
# Still argon2id, with a cost low enough that a test suite of logins stays quick.
_fast_hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)

MIN_PASSWORD_LENGTH = 12


def _hasher() -> PasswordHasher:
    return _fast_hasher if current_app.config.get("PASSWORD_HASH_FAST") else _production_hasher


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=4)
def _stand_in_hash(hasher: PasswordHasher) -> str:
    # Made once per hasher: hashing afresh on every call would double the work of an unknown
    # email, and the extra time would tell an address with an account from one without.
    return hasher.hash("not-a-real-password")


def burn_verification_time(password: str) -> None:
    """Verify against a stand-in hash when the email is unknown, so a wrong email costs as
    long as a wrong password: one verification, as for an account."""
    hasher = _hasher()
    verify_password(_stand_in_hash(hasher), password)
