"""Which contacts and organisations may be the same (crm.merging.duplicates), table-first."""

import pytest

from crm.merging.duplicates import (
    SAME_EMAIL,
    SAME_PHONE,
    SIMILAR_NAME,
    ContactRow,
    NamedRow,
    contact_pairs,
    email_key,
    name_score,
    organisation_pairs,
    phone_key,
)

THRESHOLD = 85
NORTH, SOUTH = 1, 2


@pytest.mark.parametrize(
    ("phone", "key"),
    [
        ("(573) 555-0101", "5735550101"),
        ("+1 573 555 0101", "5735550101"),
        ("1-573-555-0101", "5735550101"),
        ("573.555.0101", "5735550101"),
        ("555-0101", "5550101"),
        ("x101", ""),  # an extension, not a number two people share
        ("", ""),
        ("+52 55 1234 5678", "525512345678"),  # a foreign number keeps its country code
        ("٥٧٣٥٥٥٠١٠١", ""),  # digits of another script are not read as a phone
    ],
)
def test_phone_key(phone: str, key: str) -> None:
    assert phone_key(phone) == key


@pytest.mark.parametrize(
    ("email", "key"),
    [("Pat@Example.org", "pat@example.org"), ("  pat@example.org ", "pat@example.org"), ("", "")],
)
def test_email_key(email: str, key: str) -> None:
    assert email_key(email) == key


@pytest.mark.parametrize(
    ("first", "second", "at_least", "below"),
    [
        ("Pat Partner", "Partner, Pat", 100, None),  # word order and punctuation do not count
        ("Pat Partner", "PAT PARTNER", 100, None),
        ("Patricia Partner", "Pat Partner", 75, 90),
        ("Maria Lopez", "Mariah Lopez", 90, 100),
        ("Pat Partner", "Sam South", 0, 40),
    ],
)
def test_name_score(first: str, second: str, at_least: int, below: int | None) -> None:
    score = name_score(first, second)
    assert score >= at_least
    if below is not None:
        assert score < below


CONTACT_CASES = [
    pytest.param(
        [ContactRow(1, "Pat Partner", "pat@x.org"), ContactRow(2, "P. Partner", "PAT@X.ORG ")],
        [(1, 2, 100, [SAME_EMAIL])],
        id="same email, any case, any organisation",
    ),
    pytest.param(
        [ContactRow(1, "A", phone="(573) 555-0101"), ContactRow(2, "B", phone="+1 573 555 0101")],
        [(1, 2, 100, [SAME_PHONE])],
        id="same phone by its digits",
    ),
    pytest.param(
        [ContactRow(1, "Nora North", organisation_id=NORTH), ContactRow(2, "North, Nora", organisation_id=NORTH)],
        [(1, 2, 100, [SIMILAR_NAME])],
        id="similar names in one organisation",
    ),
    pytest.param(
        [ContactRow(1, "Nora North", organisation_id=NORTH), ContactRow(2, "Nora North", organisation_id=SOUTH)],
        [],
        id="the same name in two organisations is two people",
    ),
    pytest.param(
        [ContactRow(1, "Nora North"), ContactRow(2, "Nora North")],
        [],
        id="names without an organisation are not compared",
    ),
    pytest.param(
        [ContactRow(1, "Nora North", organisation_id=NORTH), ContactRow(2, "Ned North", organisation_id=NORTH)],
        [],
        id="colleagues with different names are not a pair",
    ),
    pytest.param(
        [ContactRow(1, "A", "", "", NORTH), ContactRow(2, "B", "", "", NORTH)],
        [],
        id="two empty emails and phones are no match",
    ),
    pytest.param(
        [
            ContactRow(3, "Pat Partner", "pat@x.org", "573 555 0101", NORTH),
            ContactRow(1, "Partner Pat", "pat@x.org", "5735550101", NORTH),
            ContactRow(2, "Patt Partner", "", "", NORTH),
            ContactRow(4, "Patricia Partner", "", "", NORTH),  # below the threshold with each of them
        ],
        [
            (1, 3, 100, [SAME_EMAIL, SAME_PHONE, SIMILAR_NAME]),
            (1, 2, 96, [SIMILAR_NAME]),
            (2, 3, 96, [SIMILAR_NAME]),
        ],
        id="reasons gathered per pair, likeliest first, lower id first",
    ),
]


@pytest.mark.parametrize(("rows", "expected"), CONTACT_CASES)
def test_contact_pairs(rows, expected) -> None:
    pairs = contact_pairs(rows, THRESHOLD)
    assert [(pair.first_id, pair.second_id, pair.score, pair.reasons) for pair in pairs] == expected


@pytest.mark.parametrize(
    ("names", "threshold", "expected"),
    [
        (["Bootheel Babies & Families", "Bootheel Babies and Families"], 85, [(1, 2)]),
        (["Bootheel Babies & Families", "Families, Bootheel Babies"], 85, [(1, 2)]),
        (["North Families", "South Start"], 85, []),
        (["Kansas City Health", "Kansas City Health Dept"], 85, [(1, 2)]),
        (["Kansas City Health", "Kansas City Health Dept"], 95, []),
        (["A", "B", "A"], 85, [(1, 3)]),
        ([], 85, []),
    ],
)
def test_organisation_pairs(names: list[str], threshold: int, expected: list[tuple[int, int]]) -> None:
    rows = [NamedRow(number, name) for number, name in enumerate(names, start=1)]
    assert [(pair.first_id, pair.second_id) for pair in organisation_pairs(rows, threshold)] == expected
