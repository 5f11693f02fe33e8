"""Tokens and requests for the API's tests."""

from __future__ import annotations

from typing import Any

from crm.api import tokens
from crm.models import Role, TokenScope, User
from tests import factories


def token_for(user: User, scope: TokenScope = TokenScope.WRITE, name: str = "Test token") -> str:
    return tokens.create(user, name, scope).secret


def user_with_token(role: Role = Role.STAFF, scope: TokenScope = TokenScope.WRITE, **fields: Any) -> tuple[User, str]:
    user = factories.UserFactory(role=role, **fields)
    return user, token_for(user, scope)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
