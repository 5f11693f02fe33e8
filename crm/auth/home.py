"""Where a signed-in user starts: the page the brand link, sign-in and the account pages lead to."""

from __future__ import annotations

from flask import url_for

from crm.models.user import Role


def home_for(user) -> str:
    if user.role is Role.PARTNER:
        if user.organisation_id is None:
            return url_for("auth.no_organisation")
        return url_for("organisations.detail", organisation_id=user.organisation_id)
    return url_for("dashboard.index")


def after_sign_in(user, target: str | None) -> str:
    """Where a user goes on signing in: the page they were sent to sign in for (`next`, when it
    is a path on this site) or their home; but first to choose a password of their own if an
    administrator gave them a temporary one."""
    from crm.auth.redirects import is_safe_next

    destination = target if is_safe_next(target) else home_for(user)
    if user.must_change_password:
        return url_for("account.password", next=destination)
    return destination
