"""What each way of being reached needs from the requester (crm.models.contact_preference)."""

from __future__ import annotations

import pytest

from crm.models.contact_preference import ContactPreference, missing_detail

EMAIL, PHONE, TEXT = ContactPreference.EMAIL, ContactPreference.PHONE, ContactPreference.TEXT


@pytest.mark.parametrize(
    ("preference", "email", "phone", "missing"),
    [
        (EMAIL, "a@example.org", "", None),
        (EMAIL, "a@example.org", "(573) 555-0142", None),
        (EMAIL, "", "(573) 555-0142", "email"),
        (EMAIL, "", "", "email"),
        (EMAIL, "   ", "", "email"),
        (PHONE, "", "(573) 555-0142", None),
        (PHONE, "a@example.org", "(573) 555-0142", None),
        (PHONE, "a@example.org", "", "phone"),
        (PHONE, "", "", "phone"),
        (PHONE, "", "  ", "phone"),
        (TEXT, "", "(573) 555-0142", None),
        (TEXT, "a@example.org", "", "phone"),
        (TEXT, "", "", "phone"),
    ],
)
def test_what_each_way_of_being_reached_needs(preference, email, phone, missing):
    assert missing_detail(preference, email, phone) == missing


def test_staff_words_for_each_way():
    assert [preference.label for preference in ContactPreference] == ["Email", "Phone call", "Text message"]
