"""The yardstick for the form post: a bare Flask + Flask-SQLAlchemy app whose one endpoint
inserts one row, served by the HTTP benchmark (bench.over_http) under the same gunicorn
settings and on the same database as the app.

    BENCH_BARE_DATABASE_URL=postgresql+psycopg://... gunicorn -w 2 'bench.bare_insert:create_app()'

POST /rows with the form's fields stores them in `bench_bare_rows` and answers 201. The table
is created and dropped by the benchmark (create_table, drop_table), never by a migration.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from flask import Flask, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Engine, String, Text, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Nothing of the app is imported: the yardstick carries none of its weight.
DATABASE_URL_VARIABLE = "BENCH_BARE_DATABASE_URL"


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class BareRow(db.Model):
    __tablename__ = "bench_bare_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    message: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _same_sqlite_settings(engine: Engine) -> None:
    """On SQLite, the journal and lock waits the app uses (crm._tune_sqlite), so the two
    compare like for like."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_app(database_url: str | None = None) -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url or os.environ[DATABASE_URL_VARIABLE]
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    db.init_app(app)
    with app.app_context():
        _same_sqlite_settings(db.engine)

    @app.post("/rows")
    def add_row():
        form = request.form
        db.session.add(
            BareRow(
                name=form.get("name", "")[:200],
                email=form.get("email", "")[:254],
                message=form.get("message", ""),
                received_at=datetime.now(UTC),
            )
        )
        db.session.commit()
        return "", 201

    return app


def create_table(engine: Engine) -> None:
    BareRow.__table__.drop(engine, checkfirst=True)
    BareRow.__table__.create(engine)


def drop_table(engine: Engine) -> None:
    BareRow.__table__.drop(engine, checkfirst=True)
