"""Which contacts, and which organisations, may be the same: plain rules over plain rows.

Contacts: the same email (ignoring case), the same phone (its digits, a leading US 1 aside),
or similar names within the same organisation. Organisations: similar names. Names are
scored with rapidfuzz's token_sort_ratio (0-100, word order ignored); a pair is listed from
the configured threshold up. Rows are blocked first (by email, phone digits, organisation),
so names are only compared where a match could count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from rapidfuzz import fuzz, process, utils

SAME_EMAIL = "same email"
SAME_PHONE = "same phone"
SIMILAR_NAME = "similar name"
# Fewer digits than this are an extension or a typo, not a number two people can share.
MIN_PHONE_DIGITS = 7


@dataclass(frozen=True)
class ContactRow:
    id: int
    name: str
    email: str = ""
    phone: str = ""
    organisation_id: int | None = None


@dataclass(frozen=True)
class NamedRow:
    id: int
    name: str


@dataclass
class Pair:
    """Two records that may be one, the lower id first; score 100 for an exact email or phone."""

    first_id: int
    second_id: int
    score: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, reason: str, score: int) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
        self.score = max(self.score, score)


def email_key(email: str) -> str:
    return email.strip().casefold()


def phone_key(phone: str) -> str:
    """The digits of a phone number, without a leading US country code; "" if too short."""
    digits = "".join(char for char in phone if char.isascii() and char.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits if len(digits) >= MIN_PHONE_DIGITS else ""


def sorted_name(name: str) -> str:
    """A name as token_sort_ratio compares it: cleaned (case, punctuation), its words sorted."""
    return " ".join(sorted(utils.default_process(name).split()))


def name_score(first: str, second: str) -> int:
    """How alike two names are, 0-100: case, punctuation and word order do not count."""
    return round(fuzz.token_sort_ratio(first, second, processor=utils.default_process))


def _similar_names(ids: Sequence[int], names: Sequence[str], threshold: int):
    """(id, id, score) for each two names scoring at least ``threshold``. The names are
    cleaned and sorted once, then compared with plain ratio (which is token_sort_ratio on
    sorted names) in rapidfuzz's compiled loop, each with those after it."""
    keys = [sorted_name(name) for name in names]
    for index, key in enumerate(keys):
        for _, score, offset in process.extract(
            key, keys[index + 1 :], scorer=fuzz.ratio, processor=None, score_cutoff=threshold, limit=None
        ):
            yield ids[index], ids[index + 1 + offset], round(score)


class _Pairs:
    def __init__(self) -> None:
        self.by_ids: dict[tuple[int, int], Pair] = {}

    def add(self, one: int, other: int, reason: str, score: int) -> None:
        low, high = sorted((one, other))
        self.by_ids.setdefault((low, high), Pair(low, high)).add(reason, score)

    def sorted(self) -> list[Pair]:
        return sorted(self.by_ids.values(), key=lambda pair: (-pair.score, pair.first_id, pair.second_id))


def _groups(rows: Iterable[ContactRow], key) -> list[list[ContactRow]]:
    groups: dict[object, list[ContactRow]] = defaultdict(list)
    for row in rows:
        value = key(row)
        if value:
            groups[value].append(row)
    return [group for group in groups.values() if len(group) > 1]


def contact_pairs(rows: Sequence[ContactRow], threshold: int) -> list[Pair]:
    """The pairs of contacts that may be one person, likeliest first."""
    pairs = _Pairs()
    for reason, key in ((SAME_EMAIL, lambda row: email_key(row.email)), (SAME_PHONE, lambda row: phone_key(row.phone))):
        for group in _groups(rows, key):
            for one, other in combinations(group, 2):
                pairs.add(one.id, other.id, reason, 100)
    for group in _groups(rows, lambda row: row.organisation_id):
        for one, other, score in _similar_names([row.id for row in group], [row.name for row in group], threshold):
            pairs.add(one, other, SIMILAR_NAME, score)
    return pairs.sorted()


def organisation_pairs(rows: Sequence[NamedRow], threshold: int) -> list[Pair]:
    """The pairs of organisations whose names are alike, likeliest first."""
    pairs = _Pairs()
    for one, other, score in _similar_names([row.id for row in rows], [row.name for row in rows], threshold):
        pairs.add(one, other, SIMILAR_NAME, score)
    return pairs.sorted()
