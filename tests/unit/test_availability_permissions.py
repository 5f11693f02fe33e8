"""Who may change a contact's availability: a table over roles, organisations and own contact."""

from types import SimpleNamespace

import pytest

from crm.auth.permissions import may_edit_availability
from crm.models.user import Role

OWN_ORG, OTHER_ORG = 1, 2
ME = 10  # the contact the partner user is


def user(role: Role | None, organisation_id: int | None = OWN_ORG) -> SimpleNamespace:
    return SimpleNamespace(is_authenticated=role is not None, role=role, organisation_id=organisation_id)


def contact(contact_id: int, organisation_id: int | None) -> SimpleNamespace:
    return SimpleNamespace(id=contact_id, organisation_id=organisation_id)


@pytest.mark.parametrize(
    ("who", "whose", "own_contact_id", "allowed"),
    [
        # Staff, managers and admins: anyone's.
        (user(Role.STAFF, None), contact(20, OTHER_ORG), None, True),
        (user(Role.MANAGER, None), contact(20, None), None, True),
        (user(Role.ADMIN, None), contact(20, OWN_ORG), None, True),
        # A partner: their own organisation's contacts...
        (user(Role.PARTNER), contact(20, OWN_ORG), ME, True),
        (user(Role.PARTNER), contact(20, OWN_ORG), None, True),
        # ... and their own, even when that contact is filed elsewhere or nowhere.
        (user(Role.PARTNER), contact(ME, OWN_ORG), ME, True),
        (user(Role.PARTNER), contact(ME, None), ME, True),
        (user(Role.PARTNER, None), contact(ME, OTHER_ORG), ME, True),
        # Nothing else.
        (user(Role.PARTNER), contact(20, OTHER_ORG), ME, False),
        (user(Role.PARTNER), contact(20, None), ME, False),
        (user(Role.PARTNER, None), contact(20, None), None, False),
        (user(Role.PARTNER, None), contact(20, OWN_ORG), None, False),
        (user(None), contact(20, OWN_ORG), None, False),
    ],
)
def test_may_edit_availability(who, whose, own_contact_id, allowed: bool) -> None:
    assert may_edit_availability(who, whose, own_contact_id) is allowed
