"""Who may reach which route: plain rules over roles, and the decorator that enforces them.

Every view is classified with @requires(...), which marks the view with its access, so the
test suite can walk app.url_map and fail on a route that nobody classified.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app
from flask_login import current_user

from crm.models.user import Role


class Access(enum.Enum):
    PUBLIC = "public"  # anyone, logged in or not
    SIGNED_IN = "signed_in"  # any active user, partners included; records are filtered per user
    STAFF = "staff"  # admin, manager, staff
    MANAGER = "manager"  # admin, manager
    ADMIN = "admin"


ROLES_FOR_ACCESS: dict[Access, frozenset[Role]] = {
    Access.SIGNED_IN: frozenset(Role),
    Access.STAFF: frozenset({Role.ADMIN, Role.MANAGER, Role.STAFF}),
    Access.MANAGER: frozenset({Role.ADMIN, Role.MANAGER}),
    Access.ADMIN: frozenset({Role.ADMIN}),
}


def role_may(role: Role | None, access: Access) -> bool:
    """Whether a user of this role (None: anonymous) may reach a route of this access."""
    if access is Access.PUBLIC:
        return True
    if role is None:
        return False
    return role in ROLES_FOR_ACCESS[access]


def is_staff(user: Any) -> bool:
    return bool(user.is_authenticated) and role_may(user.role, Access.STAFF)


def can_see_organisation(user: Any, organisation_id: int | None) -> bool:
    """Staff see every organisation; a partner only the one they belong to."""
    if is_staff(user):
        return True
    return (
        user.is_authenticated
        and user.role is Role.PARTNER
        and organisation_id is not None
        and user.organisation_id == organisation_id
    )


def can_see_inquiry(user: Any, inquiry: Any) -> bool:
    """Staff see every inquiry; a partner only those routed to their own organisation."""
    return can_see_organisation(user, inquiry.organisation_id)


def may_edit_availability(user: Any, contact: Any, own_contact_id: int | None) -> bool:
    """Whether ``user`` may change when ``contact`` takes inquiries (and hand theirs over).

    Staff and managers: anyone's. A partner user: their own (``own_contact_id``, the contact
    they are) and their own organisation's contacts'. Nobody else: nobody's.
    """
    if is_staff(user):
        return True
    if not (user.is_authenticated and user.role is Role.PARTNER):
        return False
    if own_contact_id is not None and contact.id == own_contact_id:
        return True
    return user.organisation_id is not None and contact.organisation_id == user.organisation_id


def may_read_access_log(user: Any) -> bool:
    """Who looked at an inquiry is for managers and admins only."""
    return bool(user.is_authenticated) and role_may(user.role, Access.MANAGER)


View = TypeVar("View", bound=Callable[..., Any])


def requires(access: Access) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if access is not Access.PUBLIC:
                if not current_user.is_authenticated:
                    return current_app.login_manager.unauthorized()
                if not role_may(current_user.role, access):
                    abort(403)
            return view(*args, **kwargs)

        guarded.access = access  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def access_of(view: Callable[..., Any]) -> Access | None:
    return getattr(view, "access", None)


# Who may invite someone to sign in with which role. A partner's account is for a contact
# already on file, whom any foundation staff member works with; a staff account opens every
# record, so only managers and admins hand one out. Managers and admins are made by promoting
# an account on the users page, never by a link in an email.
INVITING_ROLES: dict[Role, frozenset[Role]] = {
    Role.PARTNER: frozenset({Role.ADMIN, Role.MANAGER, Role.STAFF}),
    Role.STAFF: frozenset({Role.ADMIN, Role.MANAGER}),
}


def may_invite(inviter_role: Role | None, invited_role: Role) -> bool:
    """Whether a user of `inviter_role` (None: anonymous) may invite someone as `invited_role`."""
    return inviter_role is not None and inviter_role in INVITING_ROLES.get(invited_role, frozenset())
