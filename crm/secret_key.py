"""Whether a SECRET_KEY is obviously not random.

The key signs sessions and form tokens; a guessable one lets anyone sign in as anyone. Length
alone let "a" * 48 or 48 spaces through. The checks below refuse what no random generator
produces in practice, and pass every key from secrets.token_urlsafe(24 or more) or
secrets.token_hex(16 or more): each threshold is far outside what such keys show.
"""

from __future__ import annotations

import math
from collections import Counter

from config import DEVELOPMENT_SECRET_KEY

MIN_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 8
# abcdefghij, 9876543210, aaaaaaaaaa: each character a fixed step from the one before.
MAX_STEADY_RUN = 9
# The same 12 characters twice, overlapping or not: abcabcabcabcab, secret-secret-secret.
REPEATED_PIECE = 12
# Characters' frequencies, Shannon's estimate times the length; 32 random hex digits
# (128 bits) show about 115 and rarely under 100.
MIN_ESTIMATED_BITS = 80


def secret_key_weakness(key: str) -> str | None:
    """Why the key is not fit for production, or None when it is."""
    if not key:
        return "it is not set"
    if key == DEVELOPMENT_SECRET_KEY:
        return "it is the development key"
    if len(key) < MIN_LENGTH:
        return f"it is shorter than {MIN_LENGTH} characters"
    if not key.strip():
        return "it is only whitespace"
    if len(set(key)) < MIN_DISTINCT_CHARACTERS:
        return f"it uses fewer than {MIN_DISTINCT_CHARACTERS} different characters"
    if longest_steady_run(key) > MAX_STEADY_RUN:
        return "it has a long run of repeated or consecutive characters"
    if has_repeated_piece(key, REPEATED_PIECE):
        return f"it repeats the same {REPEATED_PIECE} characters"
    if estimated_bits(key) < MIN_ESTIMATED_BITS:
        return "its characters are too predictable"
    return None


def longest_steady_run(key: str) -> int:
    """The longest stretch whose characters each differ from the one before by the same step."""
    longest = run = min(len(key), 1)
    step = None
    for before, after in zip(key, key[1:], strict=False):
        difference = ord(after) - ord(before)
        run = run + 1 if difference == step else 2
        step = difference
        longest = max(longest, run)
    return longest


def has_repeated_piece(key: str, size: int) -> bool:
    """Whether some `size` characters of the key appear again further on."""
    return any(key.find(key[start : start + size], start + 1) != -1 for start in range(len(key) - size + 1))


def estimated_bits(key: str) -> float:
    """The key's length times the Shannon entropy of its character frequencies."""
    counts = Counter(key)
    length = len(key)
    return -sum(count * math.log2(count / length) for count in counts.values())
