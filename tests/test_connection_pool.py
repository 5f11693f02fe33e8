"""How many PostgreSQL connections a process may hold: DATABASE_POOL_SIZE kept, at most
DATABASE_MAX_OVERFLOW more (README, Production). No connection is opened here."""

from __future__ import annotations

from config import TestConfig
from crm import create_app
from crm.extensions import db

POSTGRES = "postgresql+psycopg://backbone@127.0.0.1:5432/backbone"


def _pool(**overrides):
    app = create_app(TestConfig, **overrides)
    with app.app_context():
        return db.engine.pool


def test_postgresql_pool_is_sized_by_the_settings() -> None:
    pool = _pool(SQLALCHEMY_DATABASE_URI=POSTGRES, DATABASE_POOL_SIZE=2, DATABASE_MAX_OVERFLOW=1)

    assert pool.size() == 2
    assert pool._max_overflow == 1


def test_engine_options_that_name_a_size_win() -> None:
    pool = _pool(
        SQLALCHEMY_DATABASE_URI=POSTGRES,
        DATABASE_POOL_SIZE=2,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": 7},
    )

    assert pool.size() == 7


def test_sqlite_takes_no_pool_settings() -> None:
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://", DATABASE_POOL_SIZE=2)

    assert "pool_size" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]
