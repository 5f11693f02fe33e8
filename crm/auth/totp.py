"""Time-based one-time codes (RFC 6238): the rules, as plain functions over plain values.

A code is six digits for a 30-second time step. One step either side of now is accepted, for
a phone whose clock is a little off and for the seconds it takes to type; a code of a step no
later than the last one accepted is refused, so each code opens one sign-in only.
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime

import pyotp

ISSUER = "Backbone CRM"
DIGITS = 6
STEP_SECONDS = 30
# Steps accepted either side of the current one.
WINDOW = 1
_SEPARATORS = re.compile(r"[\s-]+")


def new_secret() -> str:
    """A random 160-bit secret, base32 (RFC 4226 recommends 160 bits)."""
    return pyotp.random_base32(32)


def normalise(code: str) -> str:
    """What someone typed, without the spaces or dashes an app may show between the digits."""
    return _SEPARATORS.sub("", code or "")


def looks_like_code(code: str) -> bool:
    text = normalise(code)
    return len(text) == DIGITS and text.isascii() and text.isdigit()


def step_at(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def code_for_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def matching_step(secret: str, code: str, now: datetime, last_used_step: int | None) -> int | None:
    """The time step whose code this is, when it is within the window around `now` and later
    than `last_used_step`; None otherwise (a wrong code, a stale one, or one used already)."""
    if not looks_like_code(code):
        return None
    typed = normalise(code)
    current = step_at(now)
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        # Every step of the window is compared, in constant time, whatever matched first.
        if hmac.compare_digest(code_for_step(secret, step), typed) and found is None:
            found = step
    if found is None or (last_used_step is not None and found <= last_used_step):
        return None
    return found


def provisioning_uri(secret: str, account_name: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_name, issuer_name=ISSUER
    )


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))
