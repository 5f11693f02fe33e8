"""Recovery codes: ten single-use codes for the day the phone is lost.

Each is ten characters from an alphabet without look-alikes (no 0/o, 1/l/i), about 49 bits,
shown as two groups of five. Only the SHA-256 of the normalised code is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets

COUNT = 10
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LENGTH = 10
_SEPARATORS = re.compile(r"[\s-]+")


def generate(count: int = COUNT) -> list[str]:
    codes: list[str] = []
    while len(codes) < count:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        code = f"{raw[:5]}-{raw[5:]}"
        if code not in codes:
            codes.append(code)
    return codes


def normalise(code: str) -> str:
    return _SEPARATORS.sub("", (code or "").lower())


def looks_like_code(code: str) -> bool:
    text = normalise(code)
    return len(text) == LENGTH and all(char in ALPHABET for char in text)


def hash_code(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()
