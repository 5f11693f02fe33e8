from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or "sqlite://"
