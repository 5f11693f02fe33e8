"""The Big List of Naughty Strings (tests/data/naughty_strings.txt), loaded once for any test."""

from __future__ import annotations

from functools import cache
from pathlib import Path

NAUGHTY_STRINGS_FILE = Path(__file__).parent / "data" / "naughty_strings.txt"


@cache
def naughty_strings() -> tuple[str, ...]:
    """Every test string in the file: split on LF only, without comments and empty lines.

    Whitespace-only lines are kept: they are test strings too.
    """
    text = NAUGHTY_STRINGS_FILE.read_bytes().decode("utf-8")
    return tuple(line for line in text.split("\n") if line and not line.startswith("#"))
