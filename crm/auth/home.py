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
