"""The Big List of Naughty Strings (tests/data/naughty_strings.txt), loaded once for any test.

Validators are checked against every string (cheap: no request, no database). A request that
goes all the way to the database is dearer, so the default run sends `naughty_sample()`, and
the whole list goes end to end only in the tests marked `slow` (see README, Testing).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

NAUGHTY_STRINGS_FILE = Path(__file__).parent / "data" / "naughty_strings.txt"
# Every this-many-th string goes into the sample, besides the ones it always holds.
SAMPLE_STEP = 10
# Numbers a field that holds an id or a count must survive: too large for the columns, negative,
# exponent, full-width digits.
HOSTILE_NUMBERS = ("99999999999999999999999", "2147483648", "-1", "0", "1e3", "１２")


@cache
def naughty_strings() -> tuple[str, ...]:
    """Every test string in the file: split on LF only, without comments and empty lines.

    Whitespace-only lines are kept: they are test strings too.
    """
    text = NAUGHTY_STRINGS_FILE.read_bytes().decode("utf-8")
    return tuple(line for line in text.split("\n") if line and not line.startswith("#"))


def has_control_character(text: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


@cache
def naughty_sample() -> tuple[str, ...]:
    """A small, fixed part of the list for requests that reach the database: every
    SAMPLE_STEP-th string and every string with a control character (the ones most likely to
    break something), in the file's order."""
    strings = naughty_strings()
    return tuple(text for index, text in enumerate(strings) if index % SAMPLE_STEP == 0 or has_control_character(text))
